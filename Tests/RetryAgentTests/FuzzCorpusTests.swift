import Foundation
import Testing

/// The committed fuzzing corpus (`Tests/Fuzz/Corpus/<target>/`) through every harness of
/// `hdp-retry-fuzz`, in the ordinary build: each input must keep each harness's properties (the
/// notice parser never accepts what the JSON parser refuses, signatures verify exactly when they
/// are genuine, fast and general journal decoders agree, …). It is the regression run of what
/// `.ci/fuzz` explores with libFuzzer; `swift build --build-tests` builds the binary.
@Suite("Fuzzing corpus replay")
struct FuzzCorpusTests {
    /// `Tests/Fuzz/Corpus`, found from this file.
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus")

    /// One folder per harness.
    static let targets: [String] =
        ((try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? []).filter { !$0.hasPrefix(".") }
        .sorted()

    /// `hdp-retry-fuzz`, beside the test runner or in `<package>/.build/debug`.
    static func binary() throws -> URL {
        let package = corpus.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var folders: [URL] = []
        if let runner = CommandLine.arguments.first {
            folders.append(URL(fileURLWithPath: runner).resolvingSymlinksInPath().deletingLastPathComponent())
        }
        folders.append(package.appendingPathComponent(".build/debug"))
        let found = folders.map { $0.appendingPathComponent("hdp-retry-fuzz") }.first {
            FileManager.default.isExecutableFile(atPath: $0.path)
        }
        return try #require(
            found, "hdp-retry-fuzz was not found in \(folders.map(\.path)); run `swift build --build-tests` first")
    }

    /// Runs `hdp-retry-fuzz` with `arguments`: its exit status and everything it printed.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        // `mutate` writes failing inputs under its working directory, never into the repository.
        process.currentDirectoryURL = FileManager.default.temporaryDirectory
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, text)
    }

    @Test("the corpus has a folder for every harness, and only those")
    func everyHarnessHasSeeds() throws {
        let list = try Self.run(["list"])
        #expect(list.status == 0)
        let names = list.output.split(separator: "\n").compactMap { $0.split(separator: "\t").first.map(String.init) }
        #expect(names.sorted() == Self.targets)
    }

    @Test("every committed input keeps every property", arguments: targets)
    func replay(target: String) throws {
        let result = try Self.run(["replay", target, Self.corpus.appendingPathComponent(target).path])
        #expect(result.status == 0, "\(result.output)")
        #expect(
            result.output.contains("\(target): ") && result.output.contains(" inputs, 0 violations"), "\(result.output)"
        )
    }

    @Test("random mutations of the corpus keep every property, in every harness")
    func mutate() throws {
        let result = try Self.run(["mutate", "0.3", Self.corpus.path])
        #expect(result.status == 0, "\(result.output)")
        for target in Self.targets {
            let line = result.output.split(separator: "\n").first { $0.hasPrefix("\(target): ") }
            let count = line.flatMap { $0.split(separator: " ").dropFirst().first }.flatMap { Int($0) }
            #expect((count ?? 0) > 0, "\(target) ran no mutated input: \(result.output)")
            #expect(line?.hasSuffix(" 0 violations") == true, "\(result.output)")
        }
    }
}
