//! One line for whoever runs `cargo test`: whether the tests against
//! PostgreSQL ran. They need a server named by BROADSHEET_TEST_POSTGRES_URL;
//! without one they are skipped, except under CI=true, where that fails.

fn main() {
    let url = std::env::var("BROADSHEET_TEST_POSTGRES_URL").unwrap_or_default();
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match (url.is_empty(), ci) {
        (false, _) => println!("PostgreSQL suite: ran against the server in BROADSHEET_TEST_POSTGRES_URL"),
        (true, false) => println!(
            "PostgreSQL suite: skipped; to run it, set BROADSHEET_TEST_POSTGRES_URL=postgres://USER:PASSWORD@127.0.0.1:5432/DB (eval \"$(scripts/test-postgres.sh)\" starts a throwaway server)"
        ),
        (true, true) => {
            eprintln!("PostgreSQL suite: CI=true but BROADSHEET_TEST_POSTGRES_URL is not set; the suite must run in CI");
            std::process::exit(1);
        }
    }
}
