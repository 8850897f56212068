import Foundation

/// The outside programs the ingest benchmark uses: `wrk` (the load generator) and `webhook`
/// (adnanh/webhook, the peer), both Debian packages of the same names.
enum LoadTools {
    /// The path of `command` on `PATH` (or in the usual system folders), if installed.
    static func find(_ command: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin"]
        for folder in folders {
            let candidate = folder + "/" + command
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Finds each of `packages` (command name = Debian package name); installs the missing ones
    /// with `apt-get` when running as root where `apt-get` exists, and otherwise says how.
    /// Returns the commands' paths (missing ones absent) and lines for the report.
    static func ensure(_ packages: [String], workDirectory: String) -> (paths: [String: String], notes: [String]) {
        var paths = [String: String]()
        var notes = [String]()
        for package in packages { paths[package] = find(package) }
        let missing = packages.filter { paths[$0] == nil }
        guard !missing.isEmpty else { return (paths, notes) }
        let how = "apt-get install -y " + missing.joined(separator: " ")
        guard getuid() == 0, let aptGet = find("apt-get") else {
            notes.append("not installed: \(missing.joined(separator: ", ")) — install with `\(how)` (as root)")
            return (paths, notes)
        }
        FileHandle.standardError.write(
            Data("hdp-retry-bench: installing \(missing.joined(separator: ", ")): \(how)\n".utf8))
        let environment = [
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C",
        ]
        let log = workDirectory + "/apt-get.log"
        let update = try? ChildProcess.run(
            name: "apt-get update", executable: aptGet, arguments: ["update"], environment: environment,
            directory: workDirectory, outputPath: log, timeout: 300)
        let install = try? ChildProcess.run(
            name: "apt-get install", executable: aptGet,
            arguments: ["install", "-y", "--no-install-recommends"] + missing,
            environment: environment, directory: workDirectory, outputPath: log + ".install", timeout: 600)
        for package in missing {
            paths[package] = find(package)
            if paths[package] != nil {
                notes.append("installed \(package) with `\(how)`")
            } else {
                let reason =
                    install.map { "exit \($0.status)" } ?? update.map { "update exit \($0.status)" } ?? "not run"
                notes.append("could not install \(package) (\(reason)); install with `\(how)`")
            }
        }
        return (paths, notes)
    }

    /// The first line `command --version`-like flags print, for the machine line.
    static func version(_ path: String, arguments: [String], directory: String) -> String {
        guard
            let result = try? ChildProcess.run(
                name: "version", executable: path, arguments: arguments, environment: ["PATH": "/usr/bin:/bin"],
                directory: directory, outputPath: directory + "/version.txt", timeout: 10)
        else { return "?" }
        let line = result.output.split(separator: "\n").first.map(String.init) ?? "?"
        // wrk: "wrk 4.1.0 [epoll] Copyright (C) 2012 Will Glozer".
        return line.components(separatedBy: " Copyright").first ?? line
    }
}
