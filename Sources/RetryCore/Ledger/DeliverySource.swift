/// Where a delivery came from: the `source` of a `delivery` record and of the task view.
///
/// The journal writes the field only for a delivery that did not come from the webhook listener,
/// so the lines of most deliveries (and every journal written before reconciliation existed) have
/// none, and a record without it reads as ``webhook``.
public enum DeliverySource: String, Sendable, Hashable, CaseIterable {
    /// A notice POSTed to the webhook listener.
    case webhook
    /// A failure a reconciliation sweep found in HDP's task list (SPEC §7).
    case reconcile
}
