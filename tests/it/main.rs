//! Integration tests: the probe against scripted fake servers, `mx:` fan-out against a local
//! DNS server, and the `check` command. Everything runs on loopback, in-process.

mod support;

mod agent;
mod alerting;
mod architecture;
mod cardinality;
mod cli;
mod demo;
mod docs;
mod fanout;
mod hostile_dns;
mod http_server;
mod mail_flow;
mod posture;
mod scenarios;
mod settings;
mod systemd;
mod tls_chains;
mod tls_scenarios;
