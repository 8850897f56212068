import RetryCore
import RetryJournal

extension TaskAnswer {
    /// A journal record as the task view shows it: as the journal spells it, except that a
    /// delivery always says its `source` (the journal leaves out `webhook`, the common case).
    static func historyEntry(_ record: JournalRecord) -> JSONValue {
        var fields = JournalCodec.fields(of: record)
        if case .delivery(let delivery) = record.body, case .object(var members) = fields,
            case .object(var data)? = members["data"], data["source"] == nil
        {
            data["source"] = .string(delivery.source.rawValue)
            members["data"] = .object(data)
            fields = .object(members)
        }
        return fields
    }
}
