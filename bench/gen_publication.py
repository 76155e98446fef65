#!/usr/bin/env python3
"""Generate a synthetic broadsheet publication for benchmarks.

    gen_publication.py DIR [--articles 100000] [--columns 50] [--seed 1]
                           [--authors op-ed|columnists]

Writes DIR/config.toml and DIR/content/<column>/<slug>.md. The output depends
only on the arguments (same arguments, same bytes). Standard library only.

The text is Traditional Chinese-looking nonsense built from a fixed pool of
common characters: it exercises the UTF-8, Markdown and feed-writing paths the
way a real Hong Kong opinion page would, without reading well.

Bylines (--authors):
  op-ed       (the default) a forum page: about a quarter as many distinct
              authors as articles. Half the articles are by a few hundred
              regular columnists (one per 400 articles, each writing about
              weekly over the five years), the other half by guests, each
              with a title of office; most guests write once, a few come
              back often.
  columnists  each column draws on its own 20 columnists (1,000 authors at
              50 columns), as the benchmark did before.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone

# About 600 common Traditional Chinese characters (no duplicates needed; a
# repeat only shifts the frequencies a little).
CHARS = (
    "的一是不了人我在有他這中大來上國個到說們為子和你地出道也時年得就那要下以生會自著去之過家學對可"
    "她裡後小麼心多天而能好都然沒日於起還發成事只作當想看文無開手十用主行方又如前所本見經頭面公同三已"
    "老從動兩長知民樣現分將外但身些與高意進把法此實回二理美點月明其種聲全工己話兒者向情部正名定女問力"
    "機給等幾很業最間新什打便位因重被走電四第門相次東政海口使教西再平真聽世氣信北少關並內加化由卻代軍"
    "產入先山五太水萬市眼體別處總才場師書比住員九笑性通目華報立馬命張活難神數件安表原車白應路期叫死常"
    "提感金何更反合放做系計或司利受光王果親界及今京務制解各任至清物臺象記邊共風戰干接它許八特覺望直服"
    "毛林題建南度統色字請交愛讓認算論百吃義科怎元社術結六功指思非流每青管夫連遠資隊跟帶花快條院變聯言"
    "權往展該領傳近留紅治決周保達辦運武半候七必城父強步完革深區即求品士轉量空甚眾技輕程告江語英基派滿"
    "式李息寫呢識極令黃德收臉錢黨倒未持取設始版雙歷越史商千片容研像找友孩站廣改議形委早房音火際則首單"
    "據導影失拿網香似斯專石若兵弟誰校讀志飛觀爭究包組造落視濟喜離雖壞兵拉朝視創易低醫團積組織規劃策略"
    "投融資創新產業科研數據算力智能芯片人才培養教育醫療健康環境能源碳排放經濟增長市場金融監管貿易物流"
    "城市規劃房屋土地交通基建港珠澳灣區粵深圳廣州東莞佛山珠海澳門香港九龍新界旅遊文化藝術體育青年社區"
)

# Words for titles, tags, names and roles.
TITLE_WORDS = [
    "算力", "擴容", "新型", "工業化", "人工智能", "創科", "轉型", "灣區", "融合", "發展",
    "機遇", "挑戰", "數據", "治理", "人才", "培養", "產業", "升級", "金融", "中心",
    "創新", "生態", "綠色", "低碳", "未來", "城市", "規劃", "教育", "改革", "醫療",
    "健康", "房屋", "供應", "土地", "開發", "交通", "基建", "貿易", "物流", "旅遊",
    "文化", "藝術", "體育", "青年", "就業", "社區", "安老", "長者", "科研", "轉化",
    "芯片", "半導體", "新能源", "氫能", "海洋", "經濟", "數字", "政府", "服務", "效率",
    "國際", "合作", "一帶一路", "自貿", "營商", "環境", "資本", "市場", "監管", "科技",
]
TAGS = TITLE_WORDS + [
    "香港", "深圳", "廣州", "澳門", "北部都會區", "大灣區", "施政報告", "財政預算", "立法會",
    "區議會", "粵港澳", "河套", "科學園", "數碼港", "大學", "中學", "小學", "醫院", "公屋", "居屋",
]
SURNAMES = "陳李張黃何林王梁劉吳鄭楊謝郭許曾蔡馮鄧羅周葉蘇盧朱潘彭麥余胡"
GIVEN = "大小文明志偉國家華俊傑嘉欣詠詩美玲子健永德富強美麗淑芬少康柏宏浩然思穎卓賢"
# GIVEN without its repeats: digits of the count person_name makes.
NAME_GIVEN = "".join(dict.fromkeys(GIVEN))
ROLES = [
    "某大學人工智能研究院院長", "某大學副校長(研究)", "資深傳媒人", "執業律師", "註冊會計師",
    "經濟學者", "城市規劃師", "智庫研究員", "前政府官員", "科技企業創辦人", "中學校長",
    "醫生", "立法會議員", "區議員", "大學講師", "基金經理", "工程師", "社工", "建築師", "評論員",
]
COLUMN_WORDS = [
    "鑰定未來", "灣區觀察", "科創前沿", "經濟透視", "城市筆記", "教育漫談", "醫健視野", "金融縱橫",
    "法治天地", "文化隨想", "青年心聲", "政策解讀", "國際視角", "房屋論壇", "綠色生活", "數字時代",
    "社區脈搏", "長者關懷", "科技與人", "商界觀點", "智庫觀點", "學者論壇", "創業路上", "藝文漫步",
    "運動場外",
]
COLUMNISTS_PER_COLUMN = 20
# The op-ed mix: one regular per this many articles, the share of articles
# a regular writes, and the chance that a guest byline is someone new. With
# one or two names an article, that comes to about articles / 4 authors.
ARTICLES_PER_REGULAR = 400
REGULAR_SHARE = 0.5
NEW_GUEST = 0.34
PUNCT_END = "。。。。。。！？"  # mostly 。
SEC_WORDS = ["背景", "現況", "問題", "分析", "出路", "建議", "展望", "結語", "機遇", "風險", "比較", "數據"]

SITE_TITLE = "論壇"
BASE_URL = "https://news.example.com"
HKT = timezone(timedelta(hours=8))
END = datetime(2026, 11, 20, 0, 0, tzinfo=HKT)
SPAN_SECONDS = int((END - datetime(2021, 11, 20, 0, 0, tzinfo=HKT)).total_seconds())


def toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rfc3339(dt: datetime) -> str:
    return "%04d-%02d-%02dT%02d:%02d:00+08:00" % (dt.year, dt.month, dt.day, dt.hour, dt.minute)


class Text:
    """Pools of words and sentences; article bodies are drawn from them."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        chars = CHARS
        # "Syllable-like" chunks of 1-4 characters.
        words = []
        for _ in range(6000):
            n = rng.choice((1, 2, 2, 2, 3, 3, 4))
            words.append("".join(rng.choice(chars) for _ in range(n)))
        words.extend(TITLE_WORDS * 5)
        # Clauses of 4-14 characters, sentences of 1-4 clauses joined by ，/、.
        clauses = []
        for _ in range(12000):
            target = rng.randint(4, 14)
            parts, n = [], 0
            while n < target:
                w = rng.choice(words)
                parts.append(w)
                n += len(w)
            clauses.append("".join(parts))
        sentences = []
        for _ in range(40000):
            k = rng.choice((1, 2, 2, 3, 3, 4))
            cl = rng.choices(clauses, k=k)
            sep = "，" if rng.random() < 0.85 else "、"
            sentences.append(sep.join(cl) + rng.choice(PUNCT_END))
        self.sentences = sentences
        self.sentence_lens = [len(s) for s in sentences]
        # Paragraphs of 2-7 sentences; a body is mostly whole paragraphs.
        paras = []
        for _ in range(30000):
            paras.append("".join(rng.choices(sentences, k=rng.randint(2, 7))))
        self.paras = paras
        self.para_lens = [len(p) for p in paras]

    def paragraphs(self, target_chars: int, n_sections: int) -> tuple[str, int]:
        """A body of target_chars to target_chars + ~70 characters with
        n_sections `## ` heads between its paragraphs (never first, never last,
        never two in a row)."""
        rng = self.rng
        rand = rng.random
        paras_pool, plens = self.paras, self.para_lens
        npool = len(paras_pool)
        sents, lens = self.sentences, self.sentence_lens
        nsent = len(sents)
        paras = []
        total = 0
        # Whole paragraphs from the pool while they fit...
        while True:
            j = int(rand() * npool)
            if total + plens[j] > target_chars:
                break
            paras.append(paras_pool[j])
            total += plens[j]
        # ...then a last paragraph of single sentences up to the target.
        last = []
        while total < target_chars or len(paras) + (1 if last else 0) <= n_sections:
            j = int(rand() * nsent)
            last.append(sents[j])
            total += lens[j]
            if len(last) >= 4 and len(paras) < n_sections:
                paras.append("".join(last))
                last = []
        if last:
            paras.append("".join(last))
        at = set(rng.sample(range(1, len(paras)), n_sections))
        out = []
        for i, p in enumerate(paras):
            if i in at:
                head = rng.choice(SEC_WORDS) + "：" + rng.choice(TITLE_WORDS) + rng.choice(TITLE_WORDS)
                total += len(head)
                out.append("## " + head)
            out.append(p)
        return "\n\n".join(out) + "\n", total


def column_defs(n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    cols = []
    for i in range(n):
        word = COLUMN_WORDS[i % len(COLUMN_WORDS)]
        if i >= len(COLUMN_WORDS):
            word += "（%s）" % "甲乙丙丁戊己庚辛壬癸"[(i // len(COLUMN_WORDS) - 1) % 10]
        title = "%s：%s與%s" % (word, rng.choice(TITLE_WORDS), rng.choice(TITLE_WORDS))
        desc = "本欄由%s主持，探討%s、%s及%s等議題，逢星期%s刊出。" % (
            rng.choice(ROLES), rng.choice(TITLE_WORDS), rng.choice(TITLE_WORDS),
            rng.choice(TITLE_WORDS), "一二三四五六日"[i % 7],
        )
        cols.append(("col-%02d" % i, title, desc))
    return cols


def person_name(k: int) -> str:
    """The k-th name of a mixed-radix count over surnames and given-name
    characters: distinct for distinct k (names drawn at random would merge
    guests), three characters for the first 38,880, four after that."""
    given = NAME_GIVEN
    ns, ng = len(SURNAMES), len(given)
    name = SURNAMES[k % ns]
    k //= ns
    name += given[k % ng]
    k //= ng
    name += given[k % ng]
    k //= ng
    while k:
        k -= 1
        name += given[k % ng]
        k //= ng
    return name


class OpEdBylines:
    """Bylines of a forum page: regulars, and guests who mostly write once."""

    def __init__(self, rng: random.Random, articles: int):
        self.rng = rng
        n = max(1, articles // ARTICLES_PER_REGULAR)
        # Regulars take the first names; guests count on from there.
        self.regulars = [(person_name(k), rng.choice(ROLES)) for k in range(n)]
        self.guests: list[tuple[str, str]] = []

    def guest(self) -> tuple[str, str]:
        rng = self.rng
        if not self.guests or rng.random() < NEW_GUEST:
            g = (person_name(len(self.regulars) + len(self.guests)), rng.choice(ROLES))
            self.guests.append(g)
            return g
        # A guest who comes back: cubing a uniform draw favours the earliest
        # guests, so a few write often and most are never drawn again.
        return self.guests[int(len(self.guests) * rng.random() ** 3)]

    def byline(self) -> list[tuple[str, str]]:
        rng = self.rng
        first = rng.choice(self.regulars) if rng.random() < REGULAR_SHARE else self.guest()
        names = [first]
        if rng.random() >= 0.75:
            second = self.guest()
            if second[0] != first[0]:
                names.append(second)
        return names


def write_config(path: str, cols) -> None:
    lines = [
        "# Synthetic publication generated by bench/gen_publication.py",
        "[site]",
        "title = %s" % toml_str(SITE_TITLE),
        "base_url = %s" % toml_str(BASE_URL),
        'language = "zh-Hant-HK"',
        'timezone = "Asia/Hong_Kong"',
        'permalink = "{base_url}/{column}/{slug}/"',
        'content_dir = "content"',
        'output_dir = "feeds"',
        "",
    ]
    for slug, title, desc in cols:
        lines += [
            "[[columns]]",
            "slug = %s" % toml_str(slug),
            "title = %s" % toml_str(title),
            "description = %s" % toml_str(desc),
            "",
        ]
    lines += ["[feeds]", "max_items = 50", ""]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="publication directory to create (DIR/config.toml, DIR/content/)")
    ap.add_argument("--articles", type=int, default=100000)
    ap.add_argument("--columns", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--authors", choices=("op-ed", "columnists"), default="op-ed",
                    help="the byline mix (see above)")
    ap.add_argument("--force", action="store_true", help="delete an existing DIR/content first")
    args = ap.parse_args(argv)
    if args.articles < 0 or not 1 <= args.columns <= 100:
        ap.error("need --articles >= 0 and 1 <= --columns <= 100")

    t0 = time.monotonic()
    root = args.dir
    content = os.path.join(root, "content")
    if os.path.exists(content) and os.listdir(content):
        if not args.force:
            print(f"{content} exists and is not empty (use --force to replace it)", file=sys.stderr)
            return 2
        shutil.rmtree(content)
    os.makedirs(content, exist_ok=True)

    rng = random.Random(args.seed)
    cols = column_defs(args.columns, rng)
    write_config(os.path.join(root, "config.toml"), cols)
    text = Text(rng)

    # Uneven column sizes, as on a real paper: a few busy columns, a long tail.
    weights = [1.0 / (1 + 0.08 * i) for i in range(args.columns)]
    col_of = rng.choices(range(args.columns), weights=weights, k=args.articles)
    for slug, _, _ in cols:
        os.mkdir(os.path.join(content, slug))

    # Regular contributors, as on a real forum page: each column draws on
    # its own 20 columnists (1,000 in all at 50 columns), each with a title
    # of office that stays with them.
    columnists = [
        [
            (
                rng.choice(SURNAMES) + rng.choice(GIVEN) + (rng.choice(GIVEN) if rng.random() < 0.8 else ""),
                rng.choice(ROLES),
            )
            for _ in range(COLUMNISTS_PER_COLUMN)
        ]
        for _ in range(args.columns)
    ]
    oped = OpEdBylines(rng, args.articles) if args.authors == "op-ed" else None
    written: dict[str, int] = {}
    total_chars = 0
    total_bytes = 0
    choice, randint, rnd = rng.choice, rng.randint, rng.random
    for n in range(args.articles):
        col = cols[col_of[n]][0]
        slug = "a%06d-%s" % (n, "".join(choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4)))
        title = "".join(choice(TITLE_WORDS) for _ in range(randint(2, 4)))
        if rnd() < 0.3:
            title += "：" + choice(TITLE_WORDS) + choice(TITLE_WORDS)
        published = END - timedelta(seconds=randint(0, SPAN_SECONDS - 1))
        if oped is not None:
            byline = oped.byline()
        else:
            byline = [choice(columnists[col_of[n]]) for _ in range(1 if rnd() < 0.75 else 2)]
        authors = []
        for name, role in byline:
            authors.append("  { name = %s, role = %s },\n" % (toml_str(name), toml_str(role)))
            written[name] = written.get(name, 0) + 1
        t1 = choice(TAGS)
        t2 = choice(TAGS)
        while t2 == t1:
            t2 = choice(TAGS)
        fm = [
            "+++\n",
            "title = ", toml_str(title), "\n",
            "published = ", rfc3339(published), "\n",
        ]
        if rnd() < 0.1:
            upd = min(published + timedelta(minutes=randint(30, 60 * 24 * 7)), END)
            fm += ["updated = ", rfc3339(upd), "\n"]
        fm += ["authors = [\n"] + authors + ["]\n"]
        fm += ["tags = [", toml_str(t1), ", ", toml_str(t2), "]\n", "+++\n\n"]
        body, nchars = text.paragraphs(randint(1500, 3880), randint(2, 4))
        data = ("".join(fm) + body).encode("utf-8")
        with open(os.path.join(content, col, slug + ".md"), "wb") as f:
            f.write(data)
        total_chars += nchars
        total_bytes += len(data)

    dt = time.monotonic() - t0
    counts = list(written.values())
    print(
        "%d distinct authors: %d wrote once, %d twice, %d three to nine times, %d ten or more"
        % (len(counts), sum(c == 1 for c in counts), sum(c == 2 for c in counts),
           sum(3 <= c < 10 for c in counts), sum(c >= 10 for c in counts)),
        file=sys.stderr,
    )
    print(
        "generated %d articles in %d columns under %s: %.1f MB, avg body %d chars, %.1f s"
        % (args.articles, args.columns, root, total_bytes / 1e6,
           total_chars // max(args.articles, 1), dt),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
