//! Two `serve` processes sharing one PostgreSQL state, as two web hosts
//! behind a proxy: what one takes, the other sees, and nothing is lost
//! when both take at once. Skipped without a test server (see
//! tests/cli/postgres.rs).

use super::*;
use crate::postgres::{readers_csv, server, Database, SERVER};

#[test]
fn two_services_taking_one_click_unsubscribes_at_once_record_every_one() {
    let Some(base) = server() else { return };
    let _shared = SERVER.read().unwrap_or_else(|p| p.into_inner());
    let db = Database::new(&base);
    let site = Site::new();
    site.env
        .borrow_mut()
        .push(("BROADSHEET_STATE__URL".into(), db.url.clone()));
    site.write("readers.csv", readers_csv(200));
    site.run_with_env(
        CLOCK,
        &["subscribers", "import", "readers.csv"],
        &[("BROADSHEET_STATE__URL", &db.url)],
    )
    .expect_code(0);
    let readers: Vec<(i64, String)> = db
        .client()
        .query("SELECT id, email FROM subscribers ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(readers.len(), 200);

    let services = [site.start(), site.start()];
    // Four clients at once, each reader's link sent to both services (a
    // mail client that retries through another host).
    std::thread::scope(|scope| {
        for part in readers.chunks(50) {
            let services = &services;
            scope.spawn(move || {
                for (n, (id, email)) in part.iter().enumerate() {
                    let t = token(*id, email, Purpose::Unsubscribe, TOMORROW);
                    for s in [&services[n % 2], &services[(n + 1) % 2]] {
                        let r = s.request(
                            "POST",
                            &format!("/unsubscribe?token={t}"),
                            &[("Content-Type", FORM)],
                            b"List-Unsubscribe=One-Click",
                        );
                        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    }
                }
            });
        }
    });
    let left: i64 = db
        .client()
        .query_one(
            "SELECT count(*) FROM subscribers WHERE status = 'unsubscribed'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(left, 200, "every unsubscribe recorded, none lost");
    for s in services {
        assert_eq!(s.get("/healthz").status, 200);
        s.stop();
    }
}
