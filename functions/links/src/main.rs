//! The `links` Lambda: the family's router on the Lambda runtime, with response streaming
//! (chat replies stream as they are generated).

use agentgate_shared::lambda::{self, Invoke};

#[tokio::main]
async fn main() -> Result<(), lambda::Error> {
    lambda::run(agentgate_links::router, Invoke::Streaming).await
}
