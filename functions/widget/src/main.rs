//! The `widget` Lambda: the family's router on the Lambda runtime.

use agentgate_shared::lambda::{self, Invoke};

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::run(agentgate_widget::router, Invoke::Streaming).await
}
