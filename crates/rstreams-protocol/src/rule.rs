//! The 43 rules of the Reactive Streams 1.0.4 specification, as values.
//!
//! Errors that report a protocol violation carry a [`Rule`], so that a failing test or a log line
//! names the exact rule that was broken. The summaries are paraphrases, not the spec's text.

use std::fmt;

macro_rules! rules {
    ($( $variant:ident => ($number:literal, $summary:literal), )*) => {
        /// One rule of the Reactive Streams 1.0.4 specification (rules 1.1 to 4.2).
        ///
        /// ```
        /// use rstreams_protocol::Rule;
        /// assert_eq!(Rule::R3_9.number(), "3.9");
        /// assert_eq!(Rule::ALL.len(), 43);
        /// assert_eq!(Rule::from_number("1.3"), Some(Rule::R1_3));
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[allow(missing_docs)] // each variant is documented by `number()` and `summary()`
        pub enum Rule {
            $( $variant, )*
        }

        impl Rule {
            /// Every rule, in specification order.
            pub const ALL: [Rule; 43] = [ $( Rule::$variant, )* ];

            /// The rule's number as the specification writes it, e.g. `"3.9"`.
            pub const fn number(self) -> &'static str {
                match self { $( Rule::$variant => $number, )* }
            }

            /// A one-line paraphrase of what the rule asks.
            pub const fn summary(self) -> &'static str {
                match self { $( Rule::$variant => $summary, )* }
            }
        }
    };
}

rules! {
    R1_1 => ("1.1", "a publisher signals no more on_next than the subscriber has requested in total"),
    R1_2 => ("1.2", "a publisher may signal fewer on_next than requested and end the subscription with a terminal signal"),
    R1_3 => ("1.3", "signals to one subscriber are serial: never concurrent, each happens-before the next"),
    R1_4 => ("1.4", "a failing publisher signals on_error"),
    R1_5 => ("1.5", "a publisher that ends successfully signals on_complete"),
    R1_6 => ("1.6", "after on_error or on_complete the subscription counts as cancelled"),
    R1_7 => ("1.7", "after a terminal signal no further signal may follow"),
    R1_8 => ("1.8", "after cancel, signals must stop eventually"),
    R1_9 => ("1.9", "subscribe calls on_subscribe before any other signal and returns normally"),
    R1_10 => ("1.10", "subscribe may be called many times, each time with a different subscriber"),
    R1_11 => ("1.11", "a publisher may serve several subscribers, unicast or multicast"),
    R2_1 => ("2.1", "a subscriber signals demand with request(n) to receive on_next"),
    R2_2 => ("2.2", "a subscriber that may slow the publisher should process signals asynchronously"),
    R2_3 => ("2.3", "on_complete and on_error must not call the subscription or the publisher"),
    R2_4 => ("2.4", "after on_complete or on_error the subscriber treats its subscription as cancelled"),
    R2_5 => ("2.5", "a subscriber that already has an active subscription cancels a second one"),
    R2_6 => ("2.6", "a subscriber cancels a subscription it no longer needs"),
    R2_7 => ("2.7", "a subscriber calls request and cancel serially"),
    R2_8 => ("2.8", "a subscriber accepts on_next after cancel while earlier demand drains"),
    R2_9 => ("2.9", "a subscriber accepts on_complete with or without a prior request"),
    R2_10 => ("2.10", "a subscriber accepts on_error with or without a prior request"),
    R2_11 => ("2.11", "a subscriber sees every signal's effects before processing it (happens-before)"),
    R2_12 => ("2.12", "on_subscribe is called at most once per subscriber"),
    R2_13 => ("2.13", "subscriber callbacks return normally; a failing subscriber's subscription counts as cancelled"),
    R3_1 => ("3.1", "only the owning subscriber calls request and cancel"),
    R3_2 => ("3.2", "request may be called synchronously from on_next and on_subscribe"),
    R3_3 => ("3.3", "recursion between request and on_next is bounded"),
    R3_4 => ("3.4", "request should return quickly"),
    R3_5 => ("3.5", "cancel returns quickly, is idempotent and thread-safe"),
    R3_6 => ("3.6", "after cancel, request does nothing"),
    R3_7 => ("3.7", "after cancel, cancel does nothing"),
    R3_8 => ("3.8", "while not cancelled, request(n) adds n to the outstanding demand"),
    R3_9 => ("3.9", "request(n) with n <= 0 signals on_error with an illegal-argument error"),
    R3_10 => ("3.10", "request may call on_next synchronously"),
    R3_11 => ("3.11", "request may call on_complete or on_error synchronously"),
    R3_12 => ("3.12", "cancel asks the publisher to stop signalling eventually"),
    R3_13 => ("3.13", "cancel makes the publisher drop its references to the subscriber eventually"),
    R3_14 => ("3.14", "cancel may shut down a publisher that has no other subscriptions"),
    R3_15 => ("3.15", "cancel returns normally"),
    R3_16 => ("3.16", "request returns normally"),
    R3_17 => ("3.17", "demand up to the maximum must be supported; at the maximum it counts as unbounded"),
    R4_1 => ("4.1", "a processor obeys the rules of both subscriber and publisher"),
    R4_2 => ("4.2", "a processor either recovers from on_error or passes it downstream at once"),
}

impl Rule {
    /// Looks a rule up by its number, e.g. `"2.13"`.
    pub fn from_number(number: &str) -> Option<Rule> {
        Rule::ALL.into_iter().find(|rule| rule.number() == number)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rule {} ({})", self.number(), self.summary())
    }
}
