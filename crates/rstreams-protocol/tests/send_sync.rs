//! Static checks of the auto traits the protocol promises.

use rstreams_protocol::reference::{IterPublisher, RangePublisher};
use rstreams_protocol::{BoxPublisher, Demand, Error, SerialDrain, pull::PullHandle};

fn send_sync<T: Send + Sync>() {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<Error>();
    send_sync::<Demand>();
    send_sync::<SerialDrain<Vec<u8>>>();
    send_sync::<PullHandle>();
    send_sync::<BoxPublisher<u64>>();
    send_sync::<RangePublisher>();
    send_sync::<IterPublisher<Vec<u64>>>();
    send_sync::<Box<dyn rstreams_protocol::Subscription>>();
}
