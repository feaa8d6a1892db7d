//! Rule evaluation, shared by the analyzer (live readings) and the command-center (a rule's
//! merged parameters and where each comes from; what changed parameters would have raised over
//! stored history). Methods and their sources: docs/analyzer.md.

pub mod backtest;
pub mod explain;
pub mod levels;
pub mod methods;
pub mod rules;
pub mod sensor;
pub mod store;
pub mod window;
