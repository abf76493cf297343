//! The console ships the OpenAPI document as a file (`shared/ui/assets/openapi.json`): making it
//! at run time would link every API handler into the console's function. This keeps the file
//! equal to the document the API serves; `VIGIL_UPDATE_OPENAPI=1 cargo test -p vigil-http --test
//! openapi_file` writes it afresh after a change to the API.

use std::path::Path;

#[test]
fn the_console_ships_the_document_the_api_serves() -> Result<(), Box<dyn std::error::Error>> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/assets/openapi.json");
    let served = serde_json::to_string_pretty(&vigil_http::openapi_document())? + "\n";
    if std::env::var_os("VIGIL_UPDATE_OPENAPI").is_some() {
        std::fs::write(&file, &served)?;
        return Ok(());
    }
    let shipped = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        shipped == served,
        "{} is not the document the API serves: run `VIGIL_UPDATE_OPENAPI=1 cargo test -p \
         vigil-http --test openapi_file` and commit it",
        file.display()
    );
    assert_eq!(
        vigil_ui::OPENAPI_DOCUMENT,
        served,
        "vigil-ui was built with another copy of the file"
    );
    Ok(())
}
