//! The one error type that travels through `on_error`.

use std::any::Any;
use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use crate::Rule;

/// The error a stream ends with: the user's own error, a protocol violation naming its rule, or
/// a panic caught at a stage boundary.
///
/// `Error` is cheap to clone (one reference count), because a multicast stage hands the same error
/// to every subscriber. Where a stage was built (`file:line:column`, recorded with
/// `#[track_caller]` when the pipeline is assembled) is carried along and printed.
///
/// ```
/// use rstreams_protocol::{Error, Rule};
///
/// let e = Error::violation(Rule::R3_9, "request(0) was called");
/// assert_eq!(e.rule(), Some(Rule::R3_9));
/// assert!(e.to_string().contains("rule 3.9"));
///
/// let io = Error::new(std::io::Error::other("disk on fire"));
/// assert!(io.downcast_ref::<std::io::Error>().is_some());
/// ```
#[derive(Clone)]
pub struct Error {
    inner: Arc<Inner>,
}

struct Inner {
    kind: Kind,
    stage: Option<&'static Location<'static>>,
    /// The error that was being handled when this one arose (see [`Error::with_cause`]).
    cause: Option<Error>,
}

enum Kind {
    User(Box<dyn StdError + Send + Sync + 'static>),
    Message(Cow<'static, str>),
    Violation {
        rule: Rule,
        detail: Cow<'static, str>,
    },
    Panic {
        rule: Rule,
        message: String,
    },
}

/// What kind of failure an [`Error`] reports, for matching without downcasting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An error raised by the user's code or source (including [`Error::msg`]).
    User,
    /// A Reactive Streams protocol violation; [`Error::rule`] names the rule.
    Violation,
    /// A panic in user code, caught at a stage boundary (rule 2.13 or 1.4).
    Panic,
}

impl Error {
    /// Wraps the user's error.
    pub fn new<E>(error: E) -> Self
    where
        E: StdError + Send + Sync + 'static,
    {
        Self::from_kind(Kind::User(Box::new(error)))
    }

    /// An error that is only a message.
    pub fn msg(message: impl Into<Cow<'static, str>>) -> Self {
        Self::from_kind(Kind::Message(message.into()))
    }

    /// A protocol violation of `rule`; `detail` says what happened.
    pub fn violation(rule: Rule, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::from_kind(Kind::Violation {
            rule,
            detail: detail.into(),
        })
    }

    /// A caught panic, with the panic's message when it was a string. `rule` is the rule the
    /// panicking code broke: 2.13 for a subscriber callback, 1.4 for a source.
    pub fn from_panic(rule: Rule, payload: Box<dyn Any + Send>) -> Self {
        let message = panic_message(&*payload);
        Self::from_kind(Kind::Panic { rule, message })
    }

    fn from_kind(kind: Kind) -> Self {
        Self {
            inner: Arc::new(Inner {
                kind,
                stage: None,
                cause: None,
            }),
        }
    }

    /// Records where the failing stage was built. Keeps an earlier record: the innermost stage
    /// that saw the error first knows best.
    pub fn at_stage(self, stage: &'static Location<'static>) -> Self {
        if self.inner.stage.is_some() {
            return self;
        }
        self.edited(|inner| inner.stage = Some(stage))
    }

    /// This error with `edit` applied to its contents: in place when this is the only clone,
    /// else on a copy (the other clones keep the original; a user error is wrapped, not lost).
    fn edited(self, edit: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner,
            Err(shared) => {
                let copy = Error { inner: shared };
                Inner {
                    kind: copy.clone_kind(),
                    stage: copy.inner.stage,
                    cause: copy.inner.cause.clone(),
                }
            }
        };
        edit(&mut inner);
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Attaches `cause`, the error that was being handled when this one arose (a panic in an
    /// `on_error` hook, say). It is this error's [`source`](StdError::source) and
    /// [`cause`](Error::cause); an earlier cause is replaced.
    ///
    /// ```
    /// use rstreams_protocol::{Error, Rule};
    ///
    /// let original = Error::msg("disk full");
    /// let e = Error::violation(Rule::R2_13, "the error hook panicked").with_cause(original);
    /// assert_eq!(e.cause().unwrap().to_string(), "disk full");
    /// assert!(std::error::Error::source(&e).is_some());
    /// ```
    pub fn with_cause(self, cause: Error) -> Self {
        self.edited(|inner| inner.cause = Some(cause))
    }

    /// The error that was being handled when this one arose, if one was attached with
    /// [`with_cause`](Error::with_cause).
    pub fn cause(&self) -> Option<&Error> {
        self.inner.cause.as_ref()
    }

    fn clone_kind(&self) -> Kind {
        match &self.inner.kind {
            Kind::User(_) => Kind::User(Box::new(Shared(self.clone()))),
            Kind::Message(m) => Kind::Message(m.clone()),
            Kind::Violation { rule, detail } => Kind::Violation {
                rule: *rule,
                detail: detail.clone(),
            },
            Kind::Panic { rule, message } => Kind::Panic {
                rule: *rule,
                message: message.clone(),
            },
        }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self.inner.kind {
            Kind::User(_) | Kind::Message(_) => ErrorKind::User,
            Kind::Violation { .. } => ErrorKind::Violation,
            Kind::Panic { .. } => ErrorKind::Panic,
        }
    }

    /// The rule that was broken, for violations and caught panics.
    pub fn rule(&self) -> Option<Rule> {
        match &self.inner.kind {
            Kind::Violation { rule, .. } | Kind::Panic { rule, .. } => Some(*rule),
            _ => None,
        }
    }

    /// Whether this error is a caught panic.
    pub fn is_panic(&self) -> bool {
        matches!(self.inner.kind, Kind::Panic { .. })
    }

    /// The panic message, for caught panics.
    pub fn panic_message(&self) -> Option<&str> {
        match &self.inner.kind {
            Kind::Panic { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Whether `self` and `other` are clones of one error (the same signal passed on), as
    /// opposed to two errors that merely print alike. Recording a stage with
    /// [`at_stage`](Error::at_stage) on an error still shared elsewhere makes a new one.
    ///
    /// ```
    /// use rstreams_protocol::Error;
    /// let e = Error::msg("boom");
    /// assert!(e.ptr_eq(&e.clone()));
    /// assert!(!e.ptr_eq(&Error::msg("boom")));
    /// ```
    pub fn ptr_eq(&self, other: &Error) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Where the failing stage was built, if known.
    pub fn stage(&self) -> Option<&'static Location<'static>> {
        self.inner.stage
    }

    /// The user's error, if this wraps one of type `E`.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        match &self.inner.kind {
            Kind::User(e) => match e.downcast_ref::<Shared>() {
                Some(shared) => shared.0.downcast_ref(),
                None => e.downcast_ref(),
            },
            _ => None,
        }
    }
}

/// An `Error` re-wrapped to add a stage location while other clones still share the original.
struct Shared(Error);

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.inner.kind, f)
    }
}

impl StdError for Shared {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::User(e) => fmt::Display::fmt(e, f),
            Kind::Message(m) => f.write_str(m),
            Kind::Violation { rule, detail } => {
                write!(f, "{detail}: violates {rule}")
            }
            Kind::Panic { rule, message } => {
                write!(f, "panicked: {message} (caught under {rule})")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner.kind, f)?;
        if let Some(stage) = self.inner.stage {
            write!(f, " [stage built at {stage}]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind());
        if let Some(rule) = self.rule() {
            d.field("rule", &rule.number());
        }
        d.field("message", &self.inner.kind.to_string());
        if let Some(stage) = self.inner.stage {
            d.field("stage", &format_args!("{stage}"));
        }
        if let Some(cause) = &self.inner.cause {
            d.field("cause", cause);
        }
        d.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.inner.kind {
            Kind::User(e) => Some(&**e),
            _ => self
                .inner
                .cause
                .as_ref()
                .map(|c| c as &(dyn StdError + 'static)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violation_names_rule_and_stage() {
        let here = Location::caller();
        let e = Error::violation(Rule::R3_9, "request(0)").at_stage(here);
        let text = e.to_string();
        assert!(text.contains("rule 3.9"), "{text}");
        assert!(text.contains(file!()), "{text}");
        assert_eq!(e.kind(), ErrorKind::Violation);
    }

    #[test]
    fn stage_of_shared_error_keeps_downcast() {
        let e = Error::new(std::io::Error::other("boom"));
        let keep = e.clone();
        let staged = e.at_stage(Location::caller());
        assert!(staged.stage().is_some());
        assert!(keep.stage().is_none());
        assert_eq!(
            staged.downcast_ref::<std::io::Error>().unwrap().to_string(),
            "boom"
        );
    }

    #[test]
    fn first_stage_wins() {
        let first = Location::caller();
        let e = Error::msg("x").at_stage(first);
        let second: &'static Location<'static> = Location::caller();
        assert_eq!(e.at_stage(second).stage(), Some(first));
    }

    #[test]
    fn panic_payloads() {
        let e = Error::from_panic(Rule::R2_13, Box::new("static str"));
        assert_eq!(e.panic_message(), Some("static str"));
        let e = Error::from_panic(Rule::R2_13, Box::new(String::from("owned")));
        assert_eq!(e.panic_message(), Some("owned"));
        let e = Error::from_panic(Rule::R1_4, Box::new(7_u8));
        assert!(e.is_panic());
        assert_eq!(e.rule(), Some(Rule::R1_4));
    }
}
