//! A settings form's fields, and the problems the domain found in what was sent, each shown at
//! the field it is about (`aria-invalid`, `aria-describedby`) with the values kept.

use axum::http::StatusCode;
use vigil_core::Error;

use super::ErrorPage;

/// One input of a form, as its template renders it.
pub(super) struct Field {
    /// The input's `id` and `name`.
    pub name: &'static str,
    pub label: &'static str,
    pub input_type: &'static str,
    /// What was sent (secrets: always empty, they are write-only).
    pub value: String,
    pub help: &'static str,
    pub error: Option<String>,
    pub required: bool,
    pub min: Option<u32>,
    pub max: Option<u32>,
    /// A text area of this many rows rather than one line.
    pub rows: Option<u32>,
}

impl Field {
    pub(super) fn text(name: &'static str, label: &'static str, help: &'static str) -> Self {
        Self {
            name,
            label,
            input_type: "text",
            value: String::new(),
            help,
            error: None,
            required: false,
            min: None,
            max: None,
            rows: None,
        }
    }

    /// Lines of text (one value a line).
    pub(super) fn lines(name: &'static str, label: &'static str, help: &'static str) -> Self {
        Self {
            rows: Some(4),
            ..Self::text(name, label, help)
        }
    }

    /// A secret's input: typed, never shown back.
    pub(super) fn secret(name: &'static str, label: &'static str, help: &'static str) -> Self {
        Self {
            input_type: "password",
            ..Self::text(name, label, help)
        }
    }

    /// A whole number between `min` and `max`.
    pub(super) fn number(
        name: &'static str,
        label: &'static str,
        help: &'static str,
        (min, max): (u32, u32),
    ) -> Self {
        Self {
            input_type: "number",
            required: true,
            min: Some(min),
            max: Some(max),
            ..Self::text(name, label, help)
        }
    }

    pub(super) fn with_value(mut self, value: impl Into<String>) -> Self {
        if self.input_type != "password" {
            self.value = value.into();
        }
        self
    }
}

/// What was wrong with a form post: problems of its fields, and one about the whole.
#[derive(Default)]
pub(super) struct Problems {
    pub status: Option<StatusCode>,
    /// A problem no field owns (a name already taken, a rule between fields).
    pub general: Option<String>,
}

impl Problems {
    /// The problems of `error` put at `fields`; `Err` when the error is not about the input
    /// (a store that failed, a role refused): that one is a page of its own.
    pub(super) fn place(error: Error, fields: &mut [Field]) -> Result<Problems, ErrorPage> {
        let messages: Vec<(Option<String>, String)> = match &error {
            Error::InvalidFields { problems, .. } | Error::UnprocessableFields { problems, .. } => {
                problems
                    .iter()
                    .map(|p| (Some(field_of_path(&p.path)), p.message.clone()))
                    .collect()
            }
            Error::Invalid { message, .. }
            | Error::Unprocessable { message, .. }
            | Error::Conflict(message) => vec![(None, message.clone())],
            _ => return Err(ErrorPage::from(error)),
        };
        let status = ErrorPage::from(error).status;
        let mut problems = Problems {
            status: Some(status),
            general: None,
        };
        for (path, message) in messages {
            let owner = fields.iter_mut().find(|f| match &path {
                Some(path) => path == f.name,
                None => names_field(&message, f.name),
            });
            match owner {
                Some(field) => field.error = Some(message),
                None => problems.general = Some(message),
            }
        }
        Ok(problems)
    }

    /// A problem found before the domain was asked (a number that is no number).
    pub(super) fn at(fields: &mut [Field], name: &str, message: &str) -> Problems {
        if let Some(field) = fields.iter_mut().find(|f| f.name == name) {
            field.error = Some(message.to_owned());
        }
        Problems {
            status: Some(StatusCode::BAD_REQUEST),
            general: None,
        }
    }
}

/// The top field of a JSON path (`$.url` → `url`, `$.secrets[0]` → `secrets`).
fn field_of_path(path: &str) -> String {
    let path = path.trim_start_matches('$').trim_start_matches('.');
    path.split(['.', '[']).next().unwrap_or_default().to_owned()
}

/// Whether the domain's `message` is about `field`: it starts with its name (`url must be…`,
/// `extra_patterns[1] is…`) or quotes it (`a webhook channel needs "secret"`).
fn names_field(message: &str, field: &str) -> bool {
    let starts = message
        .strip_prefix(field)
        .is_some_and(|rest| rest.starts_with([' ', ':', '[']));
    starts || message.contains(&format!("\"{field}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Vec<Field> {
        vec![
            Field::text("name", "Name", ""),
            Field::text("url", "URL", ""),
            Field::secret("secret", "Secret", "").with_value("whsec_typed"),
        ]
    }

    #[test]
    fn each_kind_of_problem_lands_at_its_field() {
        // GIVEN a form's fields and the domain's ways of naming a field
        let cases = [
            (Error::invalid("x", "url must be an http(s) URL"), "url"),
            (
                Error::unprocessable("x", "a webhook channel needs \"secret\""),
                "secret",
            ),
            (
                Error::UnprocessableFields {
                    code: "x",
                    problems: vec![vigil_core::error::FieldProblem {
                        path: "$.url".into(),
                        message: "refused".into(),
                    }],
                },
                "url",
            ),
        ];
        for (error, expected) in cases {
            // WHEN its problems are placed
            let mut fields = form();
            let Ok(problems) = Problems::place(error, &mut fields) else {
                panic!("a problem of the input");
            };
            // THEN the field it names carries it and nothing is left over
            let owner: Vec<_> = fields.iter().filter(|f| f.error.is_some()).collect();
            assert_eq!(owner.len(), 1);
            assert_eq!(owner[0].name, expected);
            assert!(problems.general.is_none());
        }
    }

    #[test]
    fn a_problem_of_no_field_is_the_forms_and_failures_are_pages() {
        let mut fields = form();
        let conflict = Error::Conflict("a channel named \"ops\" already exists".into());
        let Ok(problems) = Problems::place(conflict, &mut fields) else {
            panic!("a problem of the input");
        };
        assert_eq!(problems.status, Some(StatusCode::CONFLICT));
        assert!(problems.general.is_some());
        let failed = Error::NotFound("channel".into());
        assert!(Problems::place(failed, &mut fields).is_err());
    }

    #[test]
    fn secrets_are_never_shown_back() {
        assert_eq!(form()[2].value, "");
    }
}
