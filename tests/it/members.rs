//! The club's members over HTTP: the registry, variable symbols, the CSV import with its
//! preview, the demo list, and who may see or change what.

use crate::helpers::*;
use kasa::db::tenant::TenantTx;

/// Posts a file as `multipart/form-data` (field `file`), as the upload form does.
async fn upload(client: &Client, path: &str, file_name: &str, bytes: &[u8]) -> reqwest::Response {
    let boundary = "----kasa-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    client
        .http
        .post(client.url(path))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .expect("upload")
}

async fn club_count(app: &TestApp, club: &str, sql: &str) -> i64 {
    let (n,): (i64,) = tenant_row(app, &app.tenant(club).await, sql).await;
    n
}

/// How many members (archived included) the club at `club` has.
async fn members_in(app: &TestApp, club: &str) -> i64 {
    club_count(app, club, "SELECT count(*) FROM members").await
}

async fn member_id(app: &TestApp, club: &str, vs: &str) -> String {
    let tenant = app.tenant(club).await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let (id,): (uuid::Uuid,) = sqlx::query_as("SELECT id FROM members WHERE variable_symbol = $1")
        .bind(vs)
        .fetch_one(&mut *tx)
        .await
        .expect("member");
    tx.commit().await.expect("commit");
    id.to_string()
}

/// The new-member form with a name, a variable symbol and e-mails, everything else empty.
pub(crate) fn member_form<'a>(
    name: &'a str,
    vs: &'a str,
    emails: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("name", name),
        ("variable_symbol", vs),
        ("emails", emails),
        ("phone", ""),
        ("birth_date", ""),
        ("joined_on", ""),
        ("groups", ""),
        ("note", ""),
        ("household_id", ""),
    ]
}

/// A Czech Excel export: windows-1250-safe text, `;`, CRLF, quoted fields, a trailing empty row.
const LIST: &str = "Příjmení;Jméno;VS;E-mail;Telefon;Datum narození;Skupina;Poznámka\r\n\
Nováková;Eva;0024;eva@example.cz;+420 777 123 456;1.2.2010;žáci;\"Platí; za sestru\"\r\n\
Dvořák;Petr;2026001;petr@example.cz;;29.02.2008;dorost;\"Řekl \"\"ano\"\"\"\r\n\
Šťastná;Žofie;;zofie@example.cz;;2011-05-07;žáci, dorost;\r\n\
;;;;;;;\r\n";

fn windows_1250(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1250.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

fn utf8_bom(text: &str) -> Vec<u8> {
    [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat()
}

/// Uploads, checks the preview and confirms; returns the preview page.
async fn import(client: &Client, club: &str, bytes: &[u8]) -> String {
    let response = upload(
        client,
        &format!("{club}/members/import"),
        "clenove.csv",
        bytes,
    )
    .await;
    assert_eq!(
        response.status(),
        303,
        "{}",
        response.text().await.unwrap_or_default()
    );
    let preview = location(&response);
    let (status, page) = client.get_text(&preview).await;
    assert_eq!(status, 200);
    confirm(client, &preview).await;
    page
}

/// Confirms the import previewed at `preview`: done (303).
async fn confirm(client: &Client, preview: &str) {
    let response = client.post_form(&format!("{preview}/confirm"), &[]).await;
    assert_eq!(
        response.status(),
        303,
        "{}",
        response.text().await.unwrap_or_default()
    );
}

async fn members_snapshot(
    app: &TestApp,
    club: &str,
) -> Vec<(String, String, Vec<String>, Option<String>)> {
    let tenant = app.tenant(club).await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let rows =
        sqlx::query_as("SELECT name, variable_symbol, emails, note FROM members ORDER BY name")
            .fetch_all(&mut *tx)
            .await
            .expect("members");
    tx.commit().await.expect("commit");
    rows
}

#[tokio::test]
async fn a_treasurer_adds_edits_finds_archives_and_restores_a_member_and_everything_is_audited() {
    let (app, owner, club) = TestApp::spawn_with_club("Oddíl Orlice", "owner@a.cz").await;

    // Bad input re-renders the form with field errors (422), nothing saved.
    let mut bad = member_form("", "2026 001", "not-an-email");
    bad[4] = ("birth_date", "31.2.2010");
    let (status, page) = owner.post_text(&format!("{club}/members"), &bad).await;
    assert_eq!(status, 422);
    assert!(page.contains("Vyplňte prosím toto pole."));
    assert!(page.contains("jen číslice"));
    assert!(page.contains("e-mailovou adresu"));
    // A date written right but not in the calendar is said to not exist.
    assert!(page.contains("Takové datum neexistuje"), "{page}");
    assert!(!page.contains("Zadejte datum ve tvaru"), "{page}");
    // Every field with an error is marked and points at its message.
    for field in ["name", "variable_symbol", "emails", "birth_date"] {
        assert!(
            page.contains(&format!(
                "aria-invalid=\"true\" aria-describedby=\"{field}-error"
            )) && page.contains(&format!("id=\"{field}-error\"")),
            "{field}: {page}"
        );
    }
    assert_eq!(members_in(&app, &club).await, 0);

    let mut eva = member_form("Eva Nováková", "0024", "Eva@Example.cz");
    eva[6] = ("groups", "žáci");
    let response = owner.post_form(&format!("{club}/members"), &eva).await;
    assert_eq!(response.status(), 303);
    let eva_page = location(&response);
    let (status, page) = owner.get_text(&eva_page).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Eva Nováková") && page.contains("0024") && page.contains("eva@example.cz")
    );
    assert!(
        page.contains("id=\"member-fees\""),
        "the place for charges and payments"
    );

    // The VS is unique numerically: 24 is 0024.
    let (status, page) = owner
        .post_text(
            &format!("{club}/members"),
            &member_form("Petr Dvořák", "24", ""),
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("už má jiný člen"));

    // Without a VS, the club's scheme (sequential by default) assigns the next one.
    let response = owner
        .post_form(
            &format!("{club}/members"),
            &member_form("Petr Dvořák", "", "petr@example.cz"),
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(member_id(&app, &club, "25").await.len(), 36);

    // Search by name part, by VS without its zeros, by e-mail; filter by group.
    for (query, expect_eva, expect_petr) in [
        ("nová", true, false),
        ("24", true, false),
        ("0000000024", true, false),
        ("petr@", false, true),
    ] {
        let (_, page) = owner
            .get_text(&format!("{club}/members?q={}", urlencode(query)))
            .await;
        assert_eq!(page.contains("Eva Nováková"), expect_eva, "{query}");
        assert_eq!(page.contains("Petr Dvořák"), expect_petr, "{query}");
    }
    let tenant = app.tenant(&club).await;
    let group: (uuid::Uuid,) = tenant_row(
        &app,
        &tenant,
        "SELECT id FROM member_groups WHERE name = 'žáci'",
    )
    .await;
    let (_, page) = owner
        .get_text(&format!("{club}/members?group={}", group.0))
        .await;
    assert!(page.contains("Eva Nováková") && !page.contains("Petr Dvořák"));
    let (_, page) = owner.get_text(&format!("{club}/members")).await;
    assert!(page.contains("2 členové"), "Czech plural of the count");

    // Edit keeps the VS as entered; a VS already used is refused with 422.
    let mut edited = member_form("Eva Nová", "0024", "eva@example.cz, rodice@example.cz");
    edited[3] = ("phone", "4,20777E+11");
    let (status, page) = owner.post_text(&eva_page, &edited).await;
    assert_eq!(status, 422);
    assert!(page.contains("4,20777E+11") && page.contains("Excel"));
    edited[3] = ("phone", "+420 777 123 456");
    let response = owner.post_form(&eva_page, &edited).await;
    assert_eq!(response.status(), 303);
    let (_, page) = owner.get_text(&eva_page).await;
    assert!(page.contains("Eva Nová") && page.contains("rodice@example.cz"));

    // Archive: gone from the active list, still there (never deleted), restorable.
    assert_eq!(
        owner
            .post_form(&format!("{eva_page}/archive"), &[])
            .await
            .status(),
        303
    );
    let (_, page) = owner.get_text(&format!("{club}/members")).await;
    assert!(!page.contains("Eva Nová"));
    let (_, page) = owner
        .get_text(&format!("{club}/members?status=archived"))
        .await;
    assert!(page.contains("Eva Nová"));
    assert_eq!(members_in(&app, &club).await, 2);
    assert_eq!(
        owner
            .post_form(&format!("{eva_page}/restore"), &[])
            .await
            .status(),
        303
    );
    let (_, page) = owner.get_text(&format!("{club}/members")).await;
    assert!(page.contains("Eva Nová"));

    let (_, audit) = owner.get_text(&format!("{club}/audit")).await;
    let actions = [
        "Člen přidán",
        "Člen upraven",
        "Člen archivován",
        "Člen obnoven",
    ];
    assert_contains_all(&audit, &actions);
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn year_number_scheme_assigns_the_next_number_of_the_year_and_imported_requires_a_vs() {
    let (app, owner, club) = TestApp::spawn_with_club("Oddíl Orlice", "owner@a.cz").await;
    let year = kasa::i18n::to_prague(app.now()).year();
    assert_eq!(
        owner
            .post_form(
                &format!("{club}/members/scheme"),
                &[("scheme", "year_number")]
            )
            .await
            .status(),
        303
    );
    for name in ["První", "Druhý"] {
        let response = owner
            .post_form(&format!("{club}/members"), &member_form(name, "", ""))
            .await;
        assert_eq!(response.status(), 303);
    }
    member_id(&app, &club, &format!("{year}001")).await;
    member_id(&app, &club, &format!("{year}002")).await;

    owner
        .post_form(&format!("{club}/members/scheme"), &[("scheme", "imported")])
        .await;
    let (status, page) = owner
        .post_text(&format!("{club}/members"), &member_form("Třetí", "", ""))
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("zadejte ho prosím"));

    // A household VS is unique against members' VS, both ways.
    let (status, _) = owner
        .post_text(
            &format!("{club}/members/households"),
            &[
                ("name", "Novákovi"),
                ("variable_symbol", &format!("{year}001")),
                ("guardian_name", "Jana Nováková"),
            ],
        )
        .await;
    assert_eq!(status, 422);
    let response = owner
        .post_form(
            &format!("{club}/members/households"),
            &[
                ("name", "Novákovi"),
                ("variable_symbol", "0777"),
                ("guardian_name", "Jana Nováková"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (status, page) = owner
        .post_text(&format!("{club}/members"), &member_form("Třetí", "777", ""))
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("už má domácnost"));
}

#[tokio::test]
async fn one_list_as_utf8_with_bom_and_as_windows_1250_gives_the_same_members_and_reimport_updates()
{
    let (app, owner, club) = TestApp::spawn_with_club("Oddíl Orlice", "owner@a.cz").await;

    // Upload alone writes nothing.
    let response = upload(
        &owner,
        &format!("{club}/members/import"),
        "a.csv",
        &utf8_bom(LIST),
    )
    .await;
    let preview = location(&response);
    let (status, page) = owner.get_text(&preview).await;
    assert_eq!(status, 200);
    assert!(page.contains("3 noví členové"), "{page}");
    assert!(page.contains("utf-8-bom"));
    assert_eq!(members_in(&app, &club).await, 0);
    owner.post_form(&format!("{preview}/discard"), &[]).await;

    import(&owner, &club, &utf8_bom(LIST)).await;
    let from_utf8 = members_snapshot(&app, &club).await;
    assert_eq!(from_utf8.len(), 3);
    assert!(from_utf8.contains(&(
        "Eva Nováková".to_owned(),
        "0024".to_owned(),
        vec!["eva@example.cz".to_owned()],
        Some("Platí; za sestru".to_owned())
    )));
    assert!(
        from_utf8
            .iter()
            .any(|m| m.0 == "Petr Dvořák" && m.3.as_deref() == Some("Řekl \"ano\""))
    );
    assert_eq!(
        club_count(&app, &club, "SELECT count(*) FROM member_group_links").await,
        4
    );

    // The same file from old Excel (windows-1250): everyone is found, nothing changes, nobody
    // is duplicated.
    let page = import(&owner, &club, &windows_1250(LIST)).await;
    assert!(page.contains("windows-1250"));
    assert!(page.contains("3 členové beze změny"), "{page}");
    assert_eq!(members_snapshot(&app, &club).await, from_utf8);

    // A second club imports the windows-1250 file first: the same members.
    let other = app.client();
    let club_b = app.sign_up(&other, "Oddíl Bobr", ICO_B, "bob@b.cz").await;
    import(&other, &club_b, &windows_1250(LIST)).await;
    assert_eq!(members_snapshot(&app, &club_b).await, from_utf8);

    // Re-import by e-mail when the row has no VS: Žofie keeps her assigned VS, new name.
    let renamed = "Jméno;E-mail\r\nŽofie Šťastná-Malá;zofie@example.cz\r\n";
    let page = import(&owner, &club, renamed.as_bytes()).await;
    assert!(page.contains("1 aktualizace"), "{page}");
    assert_eq!(members_in(&app, &club).await, 3);
    assert_eq!(
        club_count(
            &app,
            &club,
            "SELECT count(*) FROM members WHERE name = 'Žofie Šťastná-Malá'"
        )
        .await,
        1
    );
    let (_, audit) = owner.get_text(&format!("{club}/audit")).await;
    assert!(audit.contains("Import členů"));
}

#[tokio::test]
async fn broken_files_show_per_file_or_per_row_errors_and_import_nothing() {
    let (app, owner, club) = TestApp::spawn_with_club("Oddíl Orlice", "owner@a.cz").await;
    let path = format!("{club}/members/import");

    // Per-file errors: refused at upload.
    let huge_cell_row = format!("Jméno;VS\r\n{};1\r\n", "x".repeat(100_000));
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            "Jméno;VS\r\nEva;1\r\n"
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    for (bytes, message) in [
        (Vec::new(), "Soubor je prázdný."),
        (b"\r\n\r\n".to_vec(), "Soubor je prázdný."),
        (utf16, "ani ve Windows-1250"),
        (b"Jm\x98no;VS\r\n".to_vec(), "ani ve Windows-1250"),
        (b"Jmeno;VS\r\n".to_vec(), "jen řádek záhlaví"),
        (vec![b'a'; 2 * 1024 * 1024 + 1], "příliš velký"),
    ] {
        let response = upload(&owner, &path, "x.csv", &bytes).await;
        assert_eq!(response.status(), 422, "{message}");
        let page = response.text().await.expect("page");
        assert!(page.contains(message), "{message}: {page}");
    }

    // Per-row and mapping errors: shown in the preview; confirm refuses and writes nothing.
    let cases: Vec<(String, &str)> = vec![
        (
            "VS;E-mail\r\n1;a@b.cz\r\n".into(),
            "Chybí sloupec se jménem",
        ),
        (
            "Jméno;E-mail;Mail\r\nEva;a@b.cz;c@d.cz\r\n".into(),
            "Dva sloupce mají stejný význam",
        ),
        (
            "Jméno;VS\r\nEva;0024\r\nPetr;24\r\n".into(),
            "Stejný VS je v souboru vícekrát (viz řádek 2).",
        ),
        (
            "Jméno;VS;Narozen\r\nEva;1;31.2.2010\r\n".into(),
            "Takové datum neexistuje",
        ),
        (
            "Jméno;VS;Narozen\r\nEva;1;1.2.10\r\n".into(),
            "Zadejte datum ve tvaru",
        ),
        (
            "Jméno;VS;Narozen;Vstup\r\nEva;1;1.2.2010;1.1.2009\r\n".into(),
            "Datum vstupu je dřív než datum narození.",
        ),
        ("Jméno;Telefon\r\nEva;4,20777E+11\r\n".into(), "4,20777E+11"),
        (huge_cell_row, "příliš dlouhý, nejvýše"),
        (
            "Jméno;VS\r\nEva;12345678901\r\n".into(),
            "nejvýše 10 číslic",
        ),
    ];
    for (csv, message) in cases {
        let response = upload(&owner, &path, "x.csv", csv.as_bytes()).await;
        assert_eq!(response.status(), 303, "{message}");
        let preview = location(&response);
        let (_, page) = owner.get_text(&preview).await;
        assert!(page.contains(message), "{message}: {page}");
        assert!(page.contains("nic se zatím neuložilo"), "{message}");
        let (status, _) = owner.post_text(&format!("{preview}/confirm"), &[]).await;
        assert_eq!(status, 422, "{message}");
    }
    assert_eq!(members_in(&app, &club).await, 0);

    // Fixing the mapping on the preview makes the duplicate-column file importable.
    let response = upload(
        &owner,
        &path,
        "x.csv",
        "Jméno;E-mail;Mail\r\nEva;a@b.cz;c@d.cz\r\n".as_bytes(),
    )
    .await;
    let preview = location(&response);
    let response = owner
        .post_form(
            &format!("{preview}/mapping"),
            &[("col", "name"), ("col", "emails"), ("col", "ignore")],
        )
        .await;
    assert_eq!(response.status(), 303);
    confirm(&owner, &preview).await;
    assert_eq!(members_in(&app, &club).await, 1);

    // An expired upload cannot be confirmed.
    let response = upload(&owner, &path, "x.csv", "Jméno\r\nPetr\r\n".as_bytes()).await;
    let preview = location(&response);
    app.clock.advance(time::Duration::hours(3));
    let (status, _) = owner.post_text(&format!("{preview}/confirm"), &[]).await;
    assert_eq!(status, 404);
    assert_eq!(members_in(&app, &club).await, 1);
}

#[tokio::test]
async fn five_thousand_rows_import_in_one_go() {
    let (app, owner, club) = TestApp::spawn_with_club("Velký oddíl", "owner@a.cz").await;
    let mut csv = String::from("Jméno;Příjmení;VS;E-mail;Skupina\r\n");
    for i in 0..5_000 {
        csv.push_str(&format!(
            "Člen;Číslo {i};{};clen{i}@example.cz;{}\r\n",
            100_000 + i,
            ["žáci", "dorost", "dospělí"][i % 3]
        ));
    }
    import(&owner, &club, csv.as_bytes()).await;
    assert_eq!(members_in(&app, &club).await, 5_000);
    let (_, page) = owner.get_text(&format!("{club}/members?q=104999")).await;
    assert!(page.contains("Člen Číslo 4999"));
}

#[tokio::test]
async fn the_demo_list_loads_through_the_preview_with_the_sandbox_vs() {
    let (app, owner, club) = TestApp::spawn_with_club("Oddíl Orlice", "owner@a.cz").await;
    let (_, page) = owner.get_text(&format!("{club}/members")).await;
    assert!(
        page.contains("Nahrát ukázkové členy"),
        "an empty club is offered the demo"
    );
    let response = owner.post_form(&format!("{club}/members/demo"), &[]).await;
    let preview = location(&response);
    let (_, page) = owner.get_text(&preview).await;
    assert!(page.contains("200 nových členů"), "{page}");
    confirm(&owner, &preview).await;
    assert_eq!(members_in(&app, &club).await, 200);
    member_id(&app, &club, "2025001").await;
    member_id(&app, &club, "2025200").await;
    let (_, page) = owner.get_text(&format!("{club}/members")).await;
    assert!(
        !page.contains("Nahrát ukázkové členy"),
        "no sandbox, members exist: no demo button"
    );
}

#[tokio::test]
async fn another_clubs_treasurer_gets_404_and_a_viewer_403_on_every_member_route() {
    let (app, alice, club_a) = TestApp::spawn_with_club("Klub A", "alice@a.cz").await;
    let bob = app.client();
    let club_b = app.sign_up(&bob, "Klub B", ICO_B, "bob@b.cz").await;
    alice
        .post_form(
            &format!("{club_a}/members"),
            &member_form("Tajná Členka", "4242", "tajna@a.cz"),
        )
        .await;
    let secret = member_id(&app, &club_a, "4242").await;
    let response = upload(
        &alice,
        &format!("{club_a}/members/import"),
        "a.csv",
        b"Jmeno\r\nEva\r\n",
    )
    .await;
    let preview = location(&response);
    let import_id = preview.rsplit('/').next().expect("id").to_owned();

    let member = format!("{club_a}/members/{secret}");
    let gets = [
        format!("{club_a}/members"),
        format!("{club_a}/members/new"),
        member.clone(),
        format!("{member}/edit"),
        format!("{club_a}/members/import"),
        preview.clone(),
    ];
    let posts = [
        format!("{club_a}/members"),
        member.clone(),
        format!("{member}/archive"),
        format!("{member}/restore"),
        format!("{club_a}/members/households"),
        format!("{club_a}/members/scheme"),
        format!("{club_a}/members/demo"),
        format!("{club_a}/members/import"),
        format!("{preview}/mapping"),
        format!("{preview}/confirm"),
        format!("{preview}/discard"),
    ];
    // Bob, owner of another club: every route of club A is 404.
    for path in &gets {
        let (status, body) = bob.get_text(path).await;
        assert_eq!(status, 404, "GET {path}");
        assert!(!body.contains("Tajná"));
    }
    for path in &posts {
        assert_eq!(
            bob.post_form(path, &[("scheme", "imported")])
                .await
                .status(),
            404,
            "POST {path}"
        );
    }
    // Club A's ids through Bob's own club: 404 too.
    for path in [
        format!("{club_b}/members/{secret}"),
        format!("{club_b}/members/{secret}/edit"),
        format!("{club_b}/members/import/{import_id}"),
    ] {
        assert_eq!(bob.get(&path).await.status(), 404, "GET {path}");
    }
    for path in [
        format!("{club_b}/members/{secret}"),
        format!("{club_b}/members/{secret}/archive"),
        format!("{club_b}/members/import/{import_id}/confirm"),
        format!("{club_b}/members/import/{import_id}/discard"),
    ] {
        assert_eq!(
            bob.post_form(&path, &[("name", "X")]).await.status(),
            404,
            "POST {path}"
        );
    }

    // A viewer of club A reads the list and the member, changes nothing (403).
    let vera = app.teammate(&alice, &club_a, "vera@a.cz", "viewer").await;
    assert_eq!(vera.get(&format!("{club_a}/members")).await.status(), 200);
    let (status, page) = vera.get_text(&member).await;
    assert_eq!(status, 200);
    assert!(page.contains("Tajná Členka") && !page.contains("/archive"));
    for path in &gets[1..] {
        if *path != member {
            assert_eq!(vera.get(path).await.status(), 403, "GET {path}");
        }
    }
    for path in &posts {
        assert_eq!(
            vera.post_form(path, &[("scheme", "imported")])
                .await
                .status(),
            403,
            "POST {path}"
        );
    }
    assert_eq!(
        club_count(
            &app,
            &club_a,
            "SELECT count(*) FROM members WHERE archived_at IS NULL"
        )
        .await,
        1
    );
    assert_eq!(
        club_count(&app, &club_a, "SELECT count(*) FROM member_imports").await,
        1
    );
}

#[tokio::test]
async fn editing_a_members_phone_and_note_names_both_fields_in_the_audit_entry() {
    let (app, owner, club) = TestApp::spawn_with_club("Oddíl Orlice", "owner@a.cz").await;
    let response = owner
        .post_form(
            &format!("{club}/members"),
            &member_form("Eva Nováková", "24", "eva@example.cz"),
        )
        .await;
    assert_eq!(response.status(), 303);
    let eva_page = location(&response);
    let mut edited = member_form("Eva Nováková", "24", "eva@example.cz");
    edited[3] = ("phone", "+420 777 123 456");
    edited[7] = ("note", "Platí za sestru");
    assert_eq!(owner.post_form(&eva_page, &edited).await.status(), 303);

    let tenant = app.tenant(&club).await;
    let mut tx = TenantTx::begin(&app.pool, &tenant).await.expect("begin");
    let (changed,): (serde_json::Value,) =
        sqlx::query_as("SELECT details->'changed' FROM audit_log WHERE action = 'member.updated'")
            .fetch_one(&mut *tx)
            .await
            .expect("audit row");
    tx.commit().await.expect("commit");
    assert_eq!(changed, serde_json::json!(["phone", "note"]));
}

#[tokio::test]
async fn the_member_list_is_sorted_by_surname_in_czech_order() {
    let (_app, owner, club) = TestApp::spawn_with_club("Oddíl Orlice", "owner@a.cz").await;
    for name in [
        "Adam Novák",
        "Adam Procházka",
        "Adam Černý",
        "Adam Němec",
        "Eva Chalupová",
        "Bára Hrubá",
        "Adam Cibulka",
    ] {
        let response = owner
            .post_form(&format!("{club}/members"), &member_form(name, "", ""))
            .await;
        assert_eq!(response.status(), 303, "{name}");
    }
    let (_, page) = owner.get_text(&format!("{club}/members")).await;
    let expected = [
        "Adam Cibulka",
        "Adam Černý",
        "Bára Hrubá",
        "Eva Chalupová",
        "Adam Němec",
        "Adam Novák",
        "Adam Procházka",
    ];
    let positions: Vec<usize> = expected
        .iter()
        .map(|name| page.find(name).expect(name))
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "{expected:?} at {positions:?}"
    );
}

#[tokio::test]
async fn reloading_the_same_list_shows_its_rows_as_unchanged_and_counts_them_apart() {
    let (_app, owner, club) = TestApp::spawn_with_club("Oddíl Orlice", "owner@a.cz").await;
    import(&owner, &club, LIST.as_bytes()).await;

    let preview_of = |bytes: Vec<u8>| {
        let owner = &owner;
        let club = &club;
        async move {
            let response = upload(
                owner,
                &format!("{club}/members/import"),
                "clenove.csv",
                &bytes,
            )
            .await;
            assert_eq!(response.status(), 303);
            let (status, page) = owner.get_text(&location(&response)).await;
            assert_eq!(status, 200);
            page
        }
    };
    let page = preview_of(LIST.as_bytes().to_vec()).await;
    assert!(page.contains("3 členové beze změny"), "{page}");
    assert!(page.contains("0 aktualizací"));
    assert!(
        !page.contains("aktualizace ("),
        "no row is labelled an update"
    );

    let changed = LIST.replace("\"Platí; za sestru\"", "\"Platí za bratra\"");
    let page = preview_of(changed.into_bytes()).await;
    assert!(page.contains("1 aktualizace"), "{page}");
    assert!(page.contains("2 členové beze změny"));
    assert!(page.contains("aktualizace (Eva Nováková)"));
}

#[tokio::test]
async fn the_edit_form_shows_czech_dates_a_back_link_and_saves_them_unchanged() {
    let (_app, owner, club) = TestApp::spawn_with_club("Oddíl Orlice", "owner@a.cz").await;
    let mut eva = member_form("Eva Nováková", "24", "");
    eva[4] = ("birth_date", "2015-10-07");
    eva[5] = ("joined_on", "1.9.2021");
    let response = owner.post_form(&format!("{club}/members"), &eva).await;
    assert_eq!(response.status(), 303);
    let eva_page = location(&response);

    let (status, form) = owner.get_text(&format!("{eva_page}/edit")).await;
    assert_eq!(status, 200);
    assert!(form.contains("value=\"7. 10. 2015\""), "{form}");
    assert!(form.contains("value=\"1. 9. 2021\""));
    assert!(!form.contains("2015-10-07"));
    let eva_id = eva_page.rsplit('/').next().expect("id");
    let back = format!("/{eva_id}\" id=\"back\">← Zpět</a>");
    assert!(
        form.contains(&back),
        "the back link leads to the member: {form}"
    );

    // Saving the form as shown keeps the dates.
    eva[4] = ("birth_date", "7. 10. 2015");
    eva[5] = ("joined_on", "1. 9. 2021");
    assert_eq!(owner.post_form(&eva_page, &eva).await.status(), 303);
    let (_, page) = owner.get_text(&eva_page).await;
    // Shown with non-breaking spaces (a date never wraps), typed with ordinary ones.
    assert!(page.contains("7.\u{a0}10.\u{a0}2015") && page.contains("1.\u{a0}9.\u{a0}2021"));
}

#[test]
fn the_stylesheet_defines_filter_forms_once_and_styles_textareas_and_facts() {
    let css = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/static/kasa.css"))
        .expect("kasa.css");
    assert_eq!(
        css.matches("\n.filters {").count(),
        1,
        "one definition for the members and the fees filters"
    );
    assert!(css.contains("input, select, textarea {"));
    assert!(css.contains(".facts > dd { grid-column: 2;"));
    let detail = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/members/detail.html"
    ))
    .expect("detail.html");
    assert!(
        !detail.contains("class=\"num\" id=\"member-vs\""),
        "the VS lines up with the other values"
    );
    // A 200-character name without spaces wraps in every table cell instead of widening it;
    // the demo button has its own row clear of the search card; invalid selects are red too.
    assert!(css.contains(
        "td, th, dd, h1, h2, .queue-item p, .flash, .field-error { overflow-wrap: anywhere; }"
    ));
    assert!(css.contains(".demo-load { display: flex;") && css.contains("margin: 0 0 1.25rem; }"));
    assert!(css.contains("select[aria-invalid=\"true\"]"));
}

/// The hidden one-time token of a form page.
pub(crate) fn form_token(page: &str) -> String {
    page.split("name=\"form_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries a token")
        .to_owned()
}

#[tokio::test]
async fn a_new_member_form_sent_twice_creates_one_member_and_shows_it_both_times() {
    let (app, owner, club) = TestApp::spawn_with_club("Oddíl Orlice", "owner@a.cz").await;
    let (_, page) = owner.get_text(&format!("{club}/members/new")).await;
    let token = form_token(&page);
    let mut form = member_form("Jana Nová", "", "jana@example.cz");
    form.push(("form_token", &token));
    let first = owner.post_form(&format!("{club}/members"), &form).await;
    let second = owner.post_form(&format!("{club}/members"), &form).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (303, 303)
    );
    assert_eq!(location(&first), location(&second), "the same member");
    assert_eq!(members_in(&app, &club).await, 1);
    // Another form (another token) is another member.
    let (_, page) = owner.get_text(&format!("{club}/members/new")).await;
    let other = form_token(&page);
    assert_ne!(other, token);
    let mut form = member_form("Jana Nová", "", "jana2@example.cz");
    form.push(("form_token", &other));
    assert_eq!(
        owner
            .post_form(&format!("{club}/members"), &form)
            .await
            .status(),
        303
    );
    assert_eq!(members_in(&app, &club).await, 2);
}
