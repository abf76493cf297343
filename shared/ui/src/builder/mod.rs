//! The workflow builder, as pure functions: the posted form read into a draft, the buttons
//! (`add_action`, `remove:3`, `up:2.then.0`, …) applied to it, the draft turned into the body
//! the workflow service validates (and a stored workflow or a template into a draft), and the
//! draft laid out as form fields with each problem of a save at its field.

mod catalogue;
mod draft;
mod json;
mod view;

pub use catalogue::catalogue;
pub use draft::{Draft, Op};
pub use view::BuilderView;

#[cfg(test)]
mod tests;
