/// Reads structured choices from fuzz bytes, front to back, the way libFuzzer's
/// `FuzzedDataProvider` does: each choice consumes a byte, and an exhausted input answers zeros,
/// so every input means something and small mutations make small changes.
struct FuzzInput {
    private let bytes: UnsafeRawBufferPointer
    private var offset = 0

    /// A reader over `bytes`.
    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Whether every byte has been consumed.
    var isExhausted: Bool { offset >= bytes.count }

    /// The next byte, or 0 when the input is exhausted.
    mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// A number in `range`, from one byte.
    mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(byte()) % (range.upperBound - range.lowerBound + 1)
    }

    /// One of `choices`, which must not be empty.
    mutating func pick<Element>(_ choices: [Element]) -> Element {
        choices[Int(byte()) % choices.count]
    }

    /// True for one byte value in `oneIn`.
    mutating func oneIn(_ oneIn: Int) -> Bool {
        Int(byte()) % oneIn == 0
    }
}

extension UnsafeRawBufferPointer {
    /// The pieces between each `separator` byte (empty pieces kept), without copying.
    func pieces(separatedBy separator: UInt8) -> [UnsafeRawBufferPointer] {
        var pieces: [UnsafeRawBufferPointer] = []
        var start = 0
        for index in 0..<count where self[index] == separator {
            pieces.append(UnsafeRawBufferPointer(rebasing: self[start..<index]))
            start = index + 1
        }
        pieces.append(UnsafeRawBufferPointer(rebasing: self[start..<count]))
        return pieces
    }
}
