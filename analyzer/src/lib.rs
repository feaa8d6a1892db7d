//! Analyzer: thresholds and trends over the live telemetry stream, four-level warnings, notifier.
