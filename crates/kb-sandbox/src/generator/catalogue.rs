//! The world a Czech club's account sees, as fixed tables the planner draws from: clubs and the
//! gyms they rent, account purposes, teams with their yearly fees, constant symbols, card
//! merchants, suppliers and their invoice texts, other payers (grants, sponsors, entry fees) and
//! SEPA payers from abroad. Amounts are whole CZK.

/// (club name, gym owner) pairs.
pub(super) const CLUBS: [(&str, &str); 10] = [
    ("TJ Sokol Kunratice, z.s.", "Základní škola Kunratice"),
    (
        "SK Slavoj Vyšehrad, z.s.",
        "Sportovní hala Vyšehrad – Městská část Praha 2",
    ),
    ("Florbalový klub Dragons Brno, z.s.", "STAREZ-SPORT, a.s."),
    (
        "OOB Lokomotiva Pardubice, z.s.",
        "Městská sportovní hala Pardubice",
    ),
    (
        "TJ Spartak Čelákovice – volejbal",
        "ZŠ J. A. Komenského Čelákovice",
    ),
    (
        "Házenkářský klub Ostrava-Poruba, z.s.",
        "Sportovní a rekreační zařízení Ostrava",
    ),
    (
        "FC Žďár nad Sázavou – mládež, z.s.",
        "Tělocvičná jednota Sokol Žďár",
    ),
    ("Plavecký klub Olomouc, z.s.", "Aquapark Olomouc a.s."),
    (
        "Tenisový klub Jablonec nad Nisou",
        "Sportovní areál Jablonec s.r.o.",
    ),
    ("SK Karate Kladno, z.s.", "Sportovní areály města Kladna"),
];
pub(super) const PURPOSES: [&str; 4] = [
    "běžný účet",
    "mládež",
    "turnaje a soustředění",
    "rezervní účet",
];

/// (team, yearly fee in CZK, is youth)
pub(super) const TEAMS: [(&str, i64, bool); 7] = [
    ("přípravka", 1_800, true),
    ("mladší žáci", 2_400, true),
    ("starší žáci", 2_400, true),
    ("dorost", 3_000, true),
    ("muži", 3_600, false),
    ("ženy", 3_000, false),
    ("veteráni", 1_500, false),
];

/// Constant symbols used on member fees.
pub(super) const MEMBER_KS: [&str; 4] = ["0308", "0558", "558", "0008"];

/// (merchant as on the card statement, min CZK, max CZK)
pub(super) const MERCHANTS: [(&str, i64, i64); 14] = [
    ("ALBERT 0654 PRAHA", 80, 1_500),
    ("LIDL DEKUJEME ZA NAKUP", 60, 1_200),
    ("SPORTISIMO PRAHA CHODOV", 300, 6_000),
    ("DECATHLON CERNY MOST", 200, 5_000),
    ("KAUFLAND PARDUBICE", 100, 1_800),
    ("HERVIS SPORTS OC CHODOV", 300, 4_500),
    ("ALZA.CZ", 200, 8_000),
    ("ROHLIK.CZ", 400, 2_500),
    ("SHELL 4512 PRAHA 4", 500, 2_500),
    ("ORLEN BENZINA 0178", 500, 2_500),
    ("BILLA PRAHA KUNRATICE", 80, 1_200),
    ("DM DROGERIE MARKT", 50, 900),
    ("CESKE DRAHY ONLINE", 100, 2_000),
    ("REGIOJET", 150, 2_400),
];

/// (supplier, message template with `{Y}` year and `{N}` invoice number, min CZK, max CZK)
pub(super) const SUPPLIERS: [(&str, &str, i64, i64); 9] = [
    (
        "Sportovní potřeby Kučera s.r.o.",
        "Faktura {N} – dresy a míče",
        2_500,
        24_000,
    ),
    (
        "ČSAD Vsetín a.s.",
        "Doprava na turnaj – autobus, faktura {N}",
        4_000,
        16_000,
    ),
    (
        "Pražská energetika, a.s.",
        "Záloha na elektřinu – klubovna",
        800,
        2_500,
    ),
    (
        "Český svaz házené",
        "Registrační poplatky svazu {Y}",
        1_000,
        9_000,
    ),
    (
        "Fotbalová asociace České republiky",
        "Startovné a poplatky soutěží {Y}",
        500,
        6_000,
    ),
    (
        "Hotel Horal Špindlerův Mlýn",
        "Soustředění {Y} – ubytování, záloha",
        10_000,
        45_000,
    ),
    (
        "Lékárna U Anděla s.r.o.",
        "Lékárnička – doplnění, faktura {N}",
        300,
        2_000,
    ),
    (
        "Tiskárna Procházka s.r.o.",
        "Tisk plakátů a diplomů – turnaj {Y}",
        900,
        5_000,
    ),
    (
        "Účetní kancelář Dvořáková s.r.o.",
        "Vedení účetnictví – faktura {N}",
        1_500,
        4_500,
    ),
];

/// (payer, message template, min CZK, max CZK)
pub(super) const OTHER_INCOMING: [(&str, &str, i64, i64); 7] = [
    (
        "Městská část Praha 4",
        "Dotace na sportovní činnost mládeže {Y}",
        20_000,
        150_000,
    ),
    (
        "Národní sportovní agentura",
        "Dotace Můj klub {Y}",
        30_000,
        250_000,
    ),
    ("Stavby Horák s.r.o.", "Sponzorský dar", 5_000, 30_000),
    (
        "Pekařství Dvořák s.r.o.",
        "Dar na turnaj {Y}",
        2_000,
        10_000,
    ),
    (
        "FK Slavoj Podolí, z.s.",
        "Startovné turnaj {Y}",
        1_500,
        6_000,
    ),
    ("TJ Sokol Libeň", "Startovné – memoriál {Y}", 1_000, 4_000),
    ("Decathlon Praha s.r.o.", "Dobropis {N}", 300, 3_000),
];

/// SEPA payers: (name, country, BIC).
pub(super) const SEPA_PAYERS: [(&str, &str, &str); 4] = [
    ("TSV Eintracht Karlsfeld e.V.", "DE", "BYLADEM1001"),
    ("Športový klub Trnava", "SK", "TATRSKBX"),
    ("SC Wiener Neustadt", "AT", "BKAUATWWXXX"),
    ("Club Sportif de Lyon", "FR", "SOGEFRPPXXX"),
];
pub(super) const SEPA_MESSAGES: [&str; 4] = [
    "Startgeld Turnier U12 {Y}",
    "Tournament fee U14 – Brno Cup {Y}",
    "Štartovné turnaj {Y}",
    "Participation tournoi jeunes {Y}",
];
