//! `keyroute-mock`: the fake providers as a process, for demos and benchmarks.

use std::net::SocketAddr;

use clap::Parser;
use keyroute_mock_providers::{Mock, MockServer};

/// Serves every provider's wire format on one loopback port.
#[derive(Debug, Parser)]
#[command(name = "keyroute-mock", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Accept this key: `provider=key`, repeatable.
    #[arg(long = "key", value_name = "PROVIDER=KEY")]
    keys: Vec<String>,
    /// Accept SigV4 signatures from this AWS key pair: `ACCESS_KEY_ID=SECRET`, repeatable.
    #[arg(long = "aws", value_name = "ID=SECRET")]
    aws: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mock = Mock::new();
    for pair in &args.keys {
        let (provider, key) = pair
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--key takes provider=key, got {pair:?}"))?;
        mock.add_key(provider, key);
    }
    for pair in &args.aws {
        let (id, secret) = pair
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--aws takes ID=SECRET"))?;
        mock.add_aws_credentials(id, secret);
    }
    let server = MockServer::start_on(mock, args.listen).await?;
    println!("keyroute-mock listening on http://{}", server.addr);
    for provider in keyroute_wire::registry::all() {
        println!("  {:<11} {}", provider.id, server.base_url(provider.id));
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
