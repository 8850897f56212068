import Foundation

/// The machine a benchmark ran on, in one line: numbers only mean something next to it.
enum MachineDescription {
    /// `2 CPUs (Intel(R) Xeon(R) Processor), Linux 6.1.0, /tmp/x on ext4, load 0.52 at start`.
    static func line(directory: String) -> String {
        let cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        var parts = ["\(cpus) CPUs (\(cpuModel))", "Linux \(kernel)"]
        let fileSystem = fileSystemType(of: directory)
        parts.append("\(directory) on \(fileSystem)" + (fileSystem == "tmpfs" ? " (fsync costs nothing there)" : ""))
        parts.append(fdatasyncLatency(directory: directory))
        parts.append("load average \(loadAverage) at start")
        return parts.joined(separator: ", ")
    }

    /// The disk's own durability cost: 200 appends of 512 bytes to a file in `directory`, each
    /// followed by `fdatasync`, as a journal's group commit does; the floor under the durable row.
    static func fdatasyncLatency(directory: String) -> String {
        let path = directory + "/fdatasync-probe"
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { return "fdatasync not measured" }
        defer {
            close(fd)
            unlink(path)
        }
        let line = [UInt8](repeating: 0x78, count: 511) + [0x0A]
        var seconds = [Double]()
        for _ in 0..<200 {
            let start = Monotonic.now
            let written = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == line.count, fdatasync(fd) == 0 else { return "fdatasync failed" }
            seconds.append(Monotonic.now - start)
        }
        let quantiles = Quantiles(sorted: seconds.sorted())
        return String(
            format: "append + fdatasync there p50 %.2f ms, p99 %.2f ms", quantiles.p50 * 1000, quantiles.p99 * 1000)
    }

    /// The processor's model name from `/proc/cpuinfo`.
    static var cpuModel: String {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return "unknown processor"
    }

    /// The kernel release (`uname -r`).
    static var kernel: String {
        var names = utsname()
        uname(&names)
        return withUnsafeBytes(of: &names.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// The 1-minute load average.
    static var loadAverage: String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?"
        return String(text.split(separator: " ").first ?? "?")
    }

    /// The file system type of the mount that holds `path` (longest mount point that is a
    /// prefix of it, from `/proc/self/mountinfo`).
    static func fileSystemType(of path: String) -> String {
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        let text = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        var best = (length: -1, type: "unknown file system")
        for line in text.split(separator: "\n") {
            // id parent major:minor root mountpoint options [optional…] - type source superoptions
            let fields = line.split(separator: " ")
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            let mountPoint = String(fields[4]).replacingOccurrences(of: "\\040", with: " ")
            let covers =
                mountPoint == "/" || resolved == mountPoint || resolved.hasPrefix(mountPoint + "/")
            if covers, mountPoint.count > best.length { best = (mountPoint.count, String(fields[dash + 1])) }
        }
        return best.type
    }
}
