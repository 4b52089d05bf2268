//! The `memory` Lambda: the table's stream in, updated memories out.

use agentgate_shared::lambda;

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::run_events(agentgate_memory::handle).await
}
