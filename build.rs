//! Rebuilds when a migration file is added: `sqlx::migrate!` embeds the directory, and cargo
//! otherwise notices only changes to files it already saw.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
