//! OpenTelemetry traces of `run` and `serve` (`--otlp-endpoint`): the tracer provider, its OTLP
//! exporter and its shutdown, which sends what is left.
//!
//! It owns the process's tracer provider only; the spans are the executor's
//! (`reprise_executor::telemetry`). It is set up before the async runtime starts and shut down
//! after it ends: the exporter's HTTP client blocks, and must not live inside the runtime.

use anyhow::Context as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

/// The installed provider; [`Traces::shutdown`] flushes it.
pub(crate) struct Traces {
    provider: SdkTracerProvider,
}

/// Sends traces to the collector at `endpoint` (its base URL) from now on.
pub(crate) fn install(endpoint: &str) -> anyhow::Result<Traces> {
    let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
    if !url.starts_with("http://") {
        anyhow::bail!(
            "--otlp-endpoint {endpoint}: give an http:// URL of an OTLP/HTTP collector, such as http://127.0.0.1:4318 \
             (traces go to a collector on the host or its network; this build sends no TLS)"
        );
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(url)
        .build()
        .with_context(|| format!("cannot set up the trace exporter to {endpoint}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_id_generator(reprise_executor::telemetry::InstanceIds::default())
        .with_resource(Resource::builder().with_service_name("reprise").build())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    reprise_executor::telemetry::enable();
    Ok(Traces { provider })
}

impl Traces {
    /// Sends the spans not sent yet, and stops the exporter.
    pub(crate) fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("warning: cannot send the last traces: {error}");
        }
    }
}
