use loco_rs::cli;
use migration::Migrator;
use order_fellow::app::App;

// mimalloc: glibc malloc's arena contention showed up in the intake profile.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> loco_rs::Result<()> {
    cli::main::<App, Migrator>().await
}
