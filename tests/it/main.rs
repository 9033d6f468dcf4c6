//! Kasa's integration tests: one binary, real PostgreSQL, real HTTP, real browser.

mod helpers;

mod accounts;
mod auth;
mod browser;
mod consent;
mod csrf_and_headers;
mod exports;
mod fee_reminders;
mod fee_sync;
mod fees;
mod help;
mod isolation;
mod kb_client;
mod kb_openapi;
mod kb_postman;
mod kept_pages;
mod live;
mod live_stream;
mod mail;
mod members;
mod movements;
mod pay_page;
mod payment_queue;
mod qr_payment;
mod reminders;
mod security;
mod signup;
mod spares;
mod sync;
mod sync_processes;
mod team;
mod telemetry;
mod tenancy;
