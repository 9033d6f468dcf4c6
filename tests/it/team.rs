//! Inviting co-treasurers, roles, and the audit trail of every membership change.

use crate::helpers::*;

#[tokio::test]
async fn sign_up_confirm_log_in_invite_and_accept_through_http() {
    let app = TestApp::spawn().await;
    let owner = app.client();
    let dashboard = app
        .sign_up_confirmed(&owner, "Spolek přátel Kasy", ICO_A, "owner@spolek.cz")
        .await;
    owner.post_form("/logout", &[]).await;
    assert_eq!(
        owner.log_in("owner@spolek.cz", PASSWORD).await.status(),
        303
    );
    let team = format!("{dashboard}/team");

    let response = owner
        .post_form(
            &format!("{team}/invite"),
            &[("email", "Jana@Spolek.cz"), ("role", "treasurer")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let (_, page) = owner.get_text(&team).await;
    assert!(page.contains("jana@spolek.cz"), "pending invitation listed");
    let mails = app.mails_to("jana@spolek.cz").await;
    assert!(mails[0].0.contains("Spolek přátel Kasy"));
    assert!(mails[0].1.contains("owner@spolek.cz") && mails[0].1.contains("pokladník"));

    // Jana has no account: she creates one from the link and lands in the club.
    let link = app.last_link_to("jana@spolek.cz").await;
    let token = link.trim_start_matches("/invitation?token=").to_owned();
    let jana = app.client();
    let (status, page) = jana.get_text(&link).await;
    assert_eq!(status, 200);
    assert!(page.contains("Spolek přátel Kasy") && page.contains("pokladník"));
    let (status, page) = jana
        .post_text("/invitation", &[("token", &token), ("password", "123")])
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("alespoň 10 znaků"));
    let response = jana
        .post_form(
            "/invitation",
            &[("token", &token), ("password", "Janino dlouhé heslo")],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), dashboard);
    let (status, page) = jana.get_text(&dashboard).await;
    assert_eq!(status, 200);
    assert!(page.contains("Vítejte v týmu"));

    // The owner sees her as a treasurer; the audit log recorded both steps.
    let (_, page) = owner.get_text(&team).await;
    assert!(page.contains("jana@spolek.cz"));
    let (_, audit) = owner.get_text(&format!("{dashboard}/audit")).await;
    assert!(audit.contains("Pozvánka odeslána"));
    assert!(audit.contains("Nový člen týmu přijal pozvánku"));
    assert!(audit.contains("Spolek založen"));

    // The link is used up.
    let (status, page) = app.client().get_text(&link).await;
    assert_eq!(status, 422);
    assert!(page.contains("Neplatná pozvánka"));
}

#[tokio::test]
async fn an_existing_person_joins_a_second_club_with_one_click() {
    let (app, owner, club_a) = TestApp::spawn_with_club("Klub A", "owner@a.cz").await;
    let petr = app.client();
    let club_b = app.sign_up(&petr, "Klub B", ICO_B, "petr@b.cz").await;

    let (link, token) = app.invite(&owner, &club_a, "petr@b.cz", "viewer").await;

    // Not signed in, an existing address is asked to log in first.
    let stranger = app.client();
    let (status, page) = stranger
        .post_text(
            "/invitation",
            &[("token", &token), ("password", "Cizí heslo pro účet")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("Pro tento e-mail už účet existuje"));

    let (_, page) = petr.get_text(&link).await;
    assert!(page.contains("Přijmout pozvánku"));
    let response = petr.post_form("/invitation", &[("token", &token)]).await;
    assert_eq!(location(&response), club_a);
    assert_eq!(petr.get(&club_a).await.status(), 200);
    assert_eq!(petr.get(&club_b).await.status(), 200);
    // A viewer may look at the team but not change it.
    assert_eq!(petr.get(&format!("{club_a}/team")).await.status(), 200);
    let response = petr
        .post_form(
            &format!("{club_a}/team/invite"),
            &[("email", "x@y.cz"), ("role", "owner")],
        )
        .await;
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn an_invitation_for_someone_else_cannot_be_taken_by_a_signed_in_person() {
    let (app, owner, club) = TestApp::spawn_with_club("Klub A", "owner@a.cz").await;
    let (link, token) = app.invite(&owner, &club, "jana@a.cz", "owner").await;
    let mallory = app.client();
    app.sign_up(&mallory, "Klub M", ICO_B, "mallory@m.cz").await;
    let (_, page) = mallory.get_text(&link).await;
    assert!(page.contains("Pozvánka je pro jinou adresu"));
    assert_eq!(
        mallory
            .post_form("/invitation", &[("token", &token)])
            .await
            .status(),
        403
    );
    assert_eq!(mallory.get(&club).await.status(), 404);
}

#[tokio::test]
async fn an_expired_invitation_is_refused() {
    let (app, owner, club) = TestApp::spawn_with_club("Klub", "owner@a.cz").await;
    let (link, token) = app.invite(&owner, &club, "late@a.cz", "viewer").await;
    app.clock.advance(time::Duration::days(8));
    let (status, page) = app.client().get_text(&link).await;
    assert_eq!(status, 422);
    assert!(page.contains("Pozvánka vypršela"));
    let (status, _) = app
        .client()
        .post_text(
            "/invitation",
            &[("token", &token), ("password", "Pozdní heslo 12345")],
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        app.count("SELECT count(*) FROM app.users WHERE email = 'late@a.cz'")
            .await,
        0
    );
}

#[tokio::test]
async fn bad_invitation_input_re_renders_the_team_page_with_field_errors() {
    let (app, owner, club) = TestApp::spawn_with_club("Klub", "owner@a.cz").await;
    let (status, page) = owner
        .post_text(
            &format!("{club}/team/invite"),
            &[("email", "not-an-email"), ("role", "king")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("Zadejte platnou e-mailovou adresu"));
    assert!(page.contains("Vyberte roli"));
    let (status, page) = owner
        .post_text(
            &format!("{club}/team/invite"),
            &[("email", "owner@a.cz"), ("role", "viewer")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("už je v týmu"));
    assert_eq!(app.count("SELECT count(*) FROM app.invitations").await, 0);
}

#[tokio::test]
async fn roles_change_teammates_leave_and_the_last_owner_stays_with_everything_audited() {
    let (app, owner, club) = TestApp::spawn_with_club("Klub", "owner@a.cz").await;
    let (_, token) = app.invite(&owner, &club, "eva@a.cz", "viewer").await;
    app.client()
        .post_form(
            "/invitation",
            &[("token", &token), ("password", "Evino heslo je dlouhé")],
        )
        .await;

    let ids: Vec<(i64, String)> = sqlx::query_as(
        "SELECT m.id, u.email FROM app.memberships m JOIN app.users u ON u.id = m.user_id ORDER BY m.id",
    )
    .fetch_all(&app.pool)
    .await
    .expect("memberships");
    let (owner_id, eva_id) = (ids[0].0, ids[1].0);

    // The only owner cannot demote themself.
    owner
        .post_form(
            &format!("{club}/team/teammates/{owner_id}/role"),
            &[("role", "viewer")],
        )
        .await;
    let (_, page) = owner.get_text(&format!("{club}/team")).await;
    assert!(page.contains("alespoň jednoho vlastníka"));

    owner
        .post_form(
            &format!("{club}/team/teammates/{eva_id}/role"),
            &[("role", "treasurer")],
        )
        .await;
    let (role,): (String,) = sqlx::query_as("SELECT role FROM app.memberships WHERE id = $1")
        .bind(eva_id)
        .fetch_one(&app.pool)
        .await
        .expect("role");
    assert_eq!(role, "treasurer");
    owner
        .post_form(&format!("{club}/team/teammates/{eva_id}/remove"), &[])
        .await;
    assert_eq!(app.count("SELECT count(*) FROM app.memberships").await, 1);

    let (_, audit) = owner.get_text(&format!("{club}/audit")).await;
    for action in [
        "Role změněna",
        "Člen týmu odebrán",
        "Nový člen týmu přijal pozvánku",
        "Pozvánka odeslána",
    ] {
        assert!(audit.contains(action), "{action}");
    }

    // Revoking an invitation is audited too, and the link dies.
    owner
        .post_form(
            &format!("{club}/team/invite"),
            &[("email", "ota@a.cz"), ("role", "viewer")],
        )
        .await;
    let (invitation_id,): (i64,) = sqlx::query_as("SELECT max(id) FROM app.invitations")
        .fetch_one(&app.pool)
        .await
        .expect("id");
    owner
        .post_form(
            &format!("{club}/team/invitations/{invitation_id}/revoke"),
            &[],
        )
        .await;
    let (status, _) = app
        .client()
        .get_text(&app.last_link_to("ota@a.cz").await)
        .await;
    assert_eq!(status, 422);
    let (_, audit) = owner.get_text(&format!("{club}/audit")).await;
    assert!(audit.contains("Pozvánka zrušena"));
}

#[tokio::test]
async fn an_invitation_accepted_twice_at_once_lets_exactly_one_in() {
    let (app, owner, club) = TestApp::spawn_with_club("Klub", "owner@a.cz").await;
    let (_, token) = app.invite(&owner, &club, "dvojce@a.cz", "viewer").await;
    let (first, second) = (app.client(), app.client());
    let form = [
        ("token", token.as_str()),
        ("password", "Dvojí přijetí heslem"),
    ];
    let (a, b) = tokio::join!(
        first.post_form("/invitation", &form),
        second.post_form("/invitation", &form)
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [303, 422],
        "one joins, the other is told the link is spent"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM app.users WHERE email = 'dvojce@a.cz'")
            .await,
        1
    );
    assert_eq!(
        app.count(
            "SELECT count(*) FROM app.memberships m JOIN app.users u ON u.id = m.user_id \
             WHERE u.email = 'dvojce@a.cz'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_co_treasurer_of_a_connected_club_sees_no_empty_next_step_card() {
    let app = TestApp::spawn_with_sandbox(|c| c.seed.transactions_per_account = 0).await;
    let (owner, dashboard) = crate::consent::confirmed_club(&app, "o@sokol.cz", ICO_A).await;
    let (_, page) = owner.get_text(&dashboard).await;
    assert!(page.contains("Další krok"), "the owner has steps: {page}");
    crate::consent::connect(&app, &owner, &dashboard).await;
    let treasurer = app
        .teammate(&owner, &dashboard, "p@sokol.cz", "treasurer")
        .await;
    let (status, page) = treasurer.get_text(&dashboard).await;
    assert_eq!(status, 200);
    assert!(
        !page.contains("Další krok"),
        "nothing left to do for a co-treasurer: {page}"
    );
}
