import Foundation

/// One `wrk` run over pre-signed requests, read back from the JSON line its script's `done()`
/// prints (wrk's own text summary is for people; numbers come from the JSON).
struct WrkRun {
    /// Path of `wrk`.
    var wrk: String
    /// Threads (`-t`).
    var threads: Int
    /// Connections across all threads (`-c`).
    var connections: Int
    /// Seconds (`-d`).
    var duration: Int
    /// Where the script, request files and output go.
    var directory: String

    /// What wrk measured.
    struct Summary: Sendable {
        /// Responses received.
        var requests: Int
        /// Seconds of the run.
        var seconds: Double
        /// Responses with a status outside 200–399.
        var non2xx3xx: Int
        /// Socket errors: connect, read, write, timeout.
        var socketErrors: Int
        /// Latency quantiles in seconds.
        var latency: Quantiles
        /// Requests handed out by each thread's `request()` (including any still unanswered).
        var sent: [Int]
        /// CPUs used by the server, by wrk and by other processes while wrk ran (from when every
        /// thread had loaded its requests).
        var cpu: (server: Double, wrk: Double, others: Double)

        /// Responses per second.
        var rate: Double { Double(requests) / max(seconds, 1e-9) }
    }

    /// Runs wrk against `url` with the requests in the files `prefix-0` … (one per thread, see
    /// ``RequestFiles``). Each thread cycles through its requests `first…limits[thread]` (1-based;
    /// to the last when the limit is 0 or absent). `server` is the process measured, for the CPU
    /// figures (`serverChildren`: with the children it reaped).
    func run(
        name: String, url: String, prefix: String, first: Int = 1, limits: [Int] = [], server: pid_t,
        serverChildren: Bool = false
    ) throws -> Summary {
        let script = directory + "/\(name).lua"
        let marker = directory + "/\(name).ready"
        try Data(Self.script(prefix: prefix, first: first, limits: limits, marker: marker).utf8)
            .write(to: URL(fileURLWithPath: script))
        let output = directory + "/\(name).wrk.txt"
        let process = try ChildProcess(
            name: "wrk", executable: wrk,
            arguments: [
                "-t\(threads)", "-c\(connections)", "-d\(duration)s", "--timeout", "5s", "--latency", "-s", script, url,
            ],
            environment: ["PATH": "/usr/bin:/bin"], directory: directory, outputPath: output)
        // The load starts once every thread has loaded its requests (a second or two for a
        // few hundred thousand): the CPU figures start there.
        let loadDeadline = Monotonic.now + 120
        while process.isRunning, Monotonic.now < loadDeadline,
            !(0..<threads).allSatisfy({ FileManager.default.fileExists(atPath: "\(marker)-\($0)") })
        {
            usleep(10_000)
        }
        let share = CPUShare(server: server, serverChildren: serverChildren, generator: process.pid)
        let reaped = process.wait(timeout: Double(duration) + 60) ?? process.kill()
        let cpu = share.end(generatorTotal: reaped.cpuSeconds)
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        guard reaped.status == 0,
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("WRKJSON ") }),
            let object = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(8).utf8)) as? [String: Any]
        else {
            throw BenchmarkError("wrk (\(name)) exit \(reaped.status):\n\(text.suffix(2000))")
        }
        func number(_ key: String) -> Double { (object[key] as? NSNumber)?.doubleValue ?? 0 }
        return Summary(
            requests: Int(number("requests")), seconds: number("duration_us") / 1e6,
            non2xx3xx: Int(number("status_errors")),
            socketErrors: Int(
                number("connect_errors") + number("read_errors") + number("write_errors") + number("timeouts")),
            latency: Quantiles(
                count: Int(number("requests")), p50: number("p50_us") / 1e6, p99: number("p99_us") / 1e6,
                max: number("max_us") / 1e6),
            sent: (object["sent"] as? [NSNumber])?.map(\.intValue) ?? [], cpu: (cpu.server, cpu.generator, cpu.others))
    }

    /// The Lua script: each thread loads its own slice of requests in `init` (before the clock
    /// starts), then creates `marker-N`, and hands the requests out in order from `request()`;
    /// `done()` prints one JSON line.
    ///
    /// wrk 4 calls `request()` once more, to check the request, in the first thread's state
    /// after its `init` and before the load: that request is never sent (older versions make
    /// the call in the main state, before any `init`, which gets a plain `GET /`).
    static func script(prefix: String, first: Int, limits: [Int], marker: String) -> String {
        """
        -- Written by hdp-retry-bench ingest: requests signed beforehand, one file per thread.
        local prefix = "\(prefix)"
        local marker = "\(marker)"
        local first = \(first)
        local limits = {\(limits.map(String.init).joined(separator: ", "))}
        local threads = {}

        function setup(thread)
          local slice = #threads
          thread:set("slice", slice)
          thread:set("limit", limits[slice + 1] or 0)
          table.insert(threads, thread)
        end

        function init(args)
          requests = {}
          local file = assert(io.open(prefix .. "-" .. slice, "rb"))
          local data = file:read("*a")
          file:close()
          local position = 1
          while position <= #data do
            local newline = string.find(data, "\\n", position, true)
            local length = tonumber(string.sub(data, position, newline - 1))
            requests[#requests + 1] = string.sub(data, newline + 1, newline + length)
            position = newline + 1 + length
          end
          if limit <= 0 or limit > #requests then limit = #requests end
          if first > limit then first = 1 end
          sent = 0
          local ready = io.open(marker .. "-" .. slice, "w")
          if ready then ready:close() end
        end

        function request()
          if requests == nil then return wrk.format("GET", "/") end
          sent = sent + 1
          return requests[first + (sent - 1) % (limit - first + 1)]
        end

        function done(summary, latency, _)
          local sent = {}
          for _, thread in ipairs(threads) do sent[#sent + 1] = tostring(thread:get("sent") or 0) end
          local errors = summary.errors
          io.write(string.format(
            'WRKJSON {"requests":%d,"duration_us":%d,"connect_errors":%d,"read_errors":%d,' ..
            '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,"sent":[%s]}\\n',
            summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.status,
            errors.timeout, latency:percentile(50), latency:percentile(99), latency.max, table.concat(sent, ",")))
        end

        """
    }
}
