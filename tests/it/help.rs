//! The help page, the privacy notice and the footer that links them (issue 10, "Help").

use crate::helpers::*;

#[tokio::test]
async fn the_help_page_explains_the_consent_the_password_the_two_balances_and_the_sandbox_in_both_languages()
 {
    let app = TestApp::spawn().await;
    let (status, page) = app.client().get_text("/help").await;
    assert_eq!(status, 200);
    for heading in [
        "Souhlas s přístupem k účtu",
        "Proč se Kasa znovu ptá na heslo",
        "Dva zůstatky",
        "Co je sandbox",
    ] {
        assert!(page.contains(heading), "{heading}");
    }
    for anchor in [
        "id=\"consent\"",
        "id=\"password\"",
        "id=\"balances\"",
        "id=\"sandbox\"",
    ] {
        assert!(page.contains(anchor), "{anchor} to link to");
    }
    let page = app.get_in_english("/help").await;
    assert!(page.contains("Why Kasa asks for the password again"));
    assert!(page.contains("Accounting balance"));
}

#[tokio::test]
async fn every_page_links_help_and_kasas_own_privacy_notice_without_configuration() {
    let app = TestApp::spawn().await;
    let (_, landing) = app.client().get_text("/").await;
    assert!(landing.contains("href=\"/help\""));
    assert!(landing.contains("href=\"/privacy\""));
    assert!(
        !landing.contains("Kontakt:"),
        "no contact unless configured"
    );
    let (status, privacy) = app.client().get_text("/privacy").await;
    assert_eq!(status, 200);
    assert!(privacy.contains("správce"));
    assert!(
        app.get_in_english("/privacy")
            .await
            .contains("the controller")
    );
}

#[tokio::test]
async fn the_operators_contact_and_privacy_notice_replace_the_defaults_in_the_footer() {
    let app = TestApp::spawn_with(|c| {
        c.footer = kasa::web::state::Footer {
            contact: Some("podpora@kasa.example".to_owned()),
            privacy_url: Some("https://kasa.example/gdpr".parse().expect("url")),
        };
    })
    .await;
    let (_, page) = app.client().get_text("/login").await;
    assert!(page.contains("Kontakt: podpora@kasa.example"));
    assert!(page.contains("href=\"https://kasa.example/gdpr\""));
    assert!(!page.contains("href=\"/privacy\""));
}
