import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The process's memory as Linux reports it, for "bytes per tracked task" figures.
enum ProcessMemory {
    /// Resident set size now (`VmRSS`), in bytes; 0 where `/proc` is unavailable.
    static var residentBytes: Int { statusField("VmRSS:") }

    /// Peak resident set size since start or the last ``resetPeak()`` (`VmHWM`), in bytes.
    static var peakResidentBytes: Int { statusField("VmHWM:") }

    /// Resets `VmHWM` to the current RSS (Linux 4.0+), so a phase's own peak can be read.
    static func resetPeak() {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return }
        _ = "5".withCString { write(fd, $0, 1) }
        close(fd)
    }

    /// Returns free heap pages to the kernel (glibc's `malloc_trim`, looked up at run time as
    /// the Glibc module does not export `malloc.h`), so RSS after a phase reflects what is live.
    static func trim() {
        #if canImport(Glibc)
        typealias Trim = @convention(c) (Int) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") {
            _ = unsafeBitCast(symbol, to: Trim.self)(0)
        }
        #endif
    }

    private static func statusField(_ name: String) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let digits = line.dropFirst(name.count).filter(\.isNumber)
            return (Int(String(digits)) ?? 0) * 1024
        }
        return 0
    }
}
