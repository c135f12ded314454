import DejaServer
import Foundation
import Testing

@Suite struct DejaConfigurationTests {
    func write(_ yaml: String) throws -> String {
        let path = NSTemporaryDirectory() + "deja-config-\(UUID().uuidString).yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func defaultsServeOCRInFrontOfALocalWorker() throws {
        let configuration = try DejaConfiguration.load(path: nil, environment: [:])
        #expect(configuration.server.port == 8080)
        #expect(configuration.server.maxBodyBytes == 20 << 20)
        #expect(configuration.tasks.map(\.effectiveRoute) == ["/ocr"])
        #expect(configuration.tasks[0].effectiveHealthURL == "http://127.0.0.1:8866/health")
        let runtime = try configuration.taskRuntimes()[0]
        #expect(runtime.hitPrice == 0)
        #expect(runtime.policy.volatileFields.contains("logId"))
    }

    @Test func theShippedExampleLoads() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../deja.example.yaml").standardized.path
        let configuration = try DejaConfiguration.load(path: example, environment: [:])
        #expect(configuration.tasks.first?.name == "ocr")
        #expect(!configuration.tasks[0].defaults.isEmpty)
        _ = try configuration.taskRuntimes()
    }

    @Test func yamlValuesAndEnvironmentOverrides() throws {
        let path = try write("""
            server: {port: 9000}
            storage: {path: /tmp/x, memoryBytes: 1024}
            tasks:
              - name: ocr
                upstream: http://10.0.0.1:8866/ocr
                model: {name: PP-OCRv4, version: v1}
                ttlSeconds: 60
                defaults: {fileType: 1, textRecScoreThresh: 0.5, visualize: false}
            """)
        let configuration = try DejaConfiguration.load(path: path, environment: [
            "DEJA_PORT": "9100", "DEJA_TASK_OCR_MODEL_VERSION": "v2", "DEJA_ADMIN_TOKEN": "t",
        ])
        #expect(configuration.server.port == 9100)
        #expect(configuration.storage.memoryBytes == 1024)
        #expect(configuration.tasks[0].model.version == "v2")
        #expect(configuration.tasks[0].ttlSeconds == 60)
        #expect(configuration.tasks[0].defaults["textRecScoreThresh"] == .number("0.5"))
        #expect(configuration.tasks[0].defaults["visualize"] == .bool(false))
        #expect(configuration.adminToken == "t")
        #expect(try configuration.taskRuntimes()[0].policy.modelVersion == "v2")
    }

    @Test func lingeringIsBoundedByYAMLOrEnvironment() throws {
        let defaults = try DejaConfiguration.load(path: nil, environment: [:])
        #expect(defaults.server.lingerSeconds == 30)
        #expect(defaults.server.lingerBytes == nil)
        let path = try write("server: {lingerSeconds: 5, lingerBytes: 1000}\n")
        let configured = try DejaConfiguration.load(path: path, environment: ["DEJA_LINGER_SECONDS": "2.5"])
        #expect(configured.server.lingerSeconds == 2.5)
        #expect(configured.server.lingerBytes == 1000)
        for (name, value, expected) in [("DEJA_LINGER_SECONDS", "0", "server.lingerSeconds"), ("DEJA_LINGER_BYTES", "-1", "server.lingerBytes")] {
            #expect {
                try DejaConfiguration.load(path: nil, environment: [name: value])
            } throws: { error in
                "\(error)".contains(expected)
            }
        }
    }

    @Test func usageRecordsAreBilledUnlessATaskAsksForAll() throws {
        let path = try write("""
            tasks:
              - {name: ocr, upstream: 'http://h/ocr', model: {name: m, version: v}}
              - {name: layout, upstream: 'http://h/layout', model: {name: m, version: v}, usage: {records: all}}
            """)
        let configuration = try DejaConfiguration.load(path: path, environment: [:])
        #expect(configuration.tasks.map(\.usage.records) == ["billed", "all"])
        let overridden = try DejaConfiguration.load(path: path, environment: ["DEJA_TASK_OCR_USAGE_RECORDS": "all"])
        #expect(overridden.tasks.map(\.usage.records) == ["all", "all"])
    }

    @Test func aTypoIsAnErrorNotASilentDefault() throws {
        let path = try write("server: {prot: 9000}\n")
        #expect {
            try DejaConfiguration.load(path: path, environment: [:])
        } throws: { error in
            "\(error)".contains("prot") && "\(error)".contains("port")
        }
    }

    @Test func invalidValuesNameTheSetting() throws {
        let cases: [(String, String)] = [
            ("tasks: []\n", "at least one task"),
            ("tasks: [{name: ocr, upstream: 'not a url', model: {name: m, version: v}}]\n", "http(s) URL"),
            ("tasks: [{name: ocr, upstream: 'http://h/ocr', model: {name: m, version: v}, scope: team}]\n", "scope"),
            ("tasks: [{name: ocr, upstream: 'http://h/ocr', model: {name: m, version: v}, route: /metrics}]\n", "collides"),
            ("tasks: [{name: ocr, upstream: 'http://h/ocr', model: {name: m, version: v}, hitPrice: 2}]\n", "hitPrice"),
            ("tasks: [{name: ocr, upstream: 'http://h/ocr'}]\n", "model"),
            ("tasks: [{name: ocr, upstreams: ['http://a/ocr', 'http://b/ocr'], health: 'http://a/health', model: {name: m, version: v}}]\n",
             "health"),
            ("tasks: [{name: ocr, upstreams: ['http://a/ocr', 'b'], model: {name: m, version: v}}]\n", "http(s) URL"),
            ("tasks: [{name: ocr, upstream: 'http://h/ocr', model: {name: m, version: v}, breakerErrorRate: 1.5}]\n", "breakerErrorRate"),
            ("tasks: [{name: ocr, model: {name: m, version: v}}]\n", "upstream"),
            ("tasks: [{name: ocr, upstream: 'http://h/ocr', model: {name: m, version: v}, usage: {records: hits}}]\n", "usage.records"),
            ("tasks: [{name: ocr, upstream: 'http://h/ocr', model: {name: m, version: v}, usage: {record: all}}]\n", "record"),
        ]
        for (yaml, expected) in cases {
            let path = try write(yaml)
            #expect(throws: (any Error).self) { try DejaConfiguration.load(path: path, environment: [:]) }
            do {
                _ = try DejaConfiguration.load(path: path, environment: [:])
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
        #expect(throws: (any Error).self) { try DejaConfiguration.load(path: nil, environment: ["DEJA_PORT": "http"]) }
    }

    @Test func severalUpstreamsAreBalancedEachWithItsHealthURL() throws {
        let path = try write("""
            tasks:
              - name: ocr
                upstreams: ['http://10.0.0.1:8866/ocr', 'http://10.0.0.2:9000/ocr']
                health: /ready
                model: {name: m, version: v}
            """)
        let configuration = try DejaConfiguration.load(path: path, environment: [:])
        #expect(configuration.tasks[0].upstream == "http://10.0.0.1:8866/ocr")
        let servers = try configuration.taskRuntimes()[0].upstreams.members
        #expect(servers.map(\.url) == ["http://10.0.0.1:8866/ocr", "http://10.0.0.2:9000/ocr"])
        #expect(servers.map(\.healthURL) == ["http://10.0.0.1:8866/ready", "http://10.0.0.2:9000/ready"])
        #expect(servers[0].breaker !== servers[1].breaker)  // one breaker per server
        // The environment can name them too.
        let overridden = try DejaConfiguration.load(path: nil, environment: ["DEJA_TASK_OCR_UPSTREAMS": "http://a:1/ocr, http://b:2/ocr"])
        #expect(try overridden.taskRuntimes()[0].upstreams.members.map(\.url) == ["http://127.0.0.1:8866/ocr", "http://a:1/ocr", "http://b:2/ocr"])
    }

    @Test func maxTextBytesIsSetPerTask() throws {
        #expect(try DejaConfiguration.load(path: nil, environment: [:]).taskRuntimes()[0].policy.maxTextBytes == 1 << 20)
        let path = try write("""
            tasks:
              - {name: ocr, upstream: 'http://h/ocr', model: {name: m, version: v}, maxTextBytes: 4096}
              - {name: other, upstream: 'http://h/other', model: {name: m, version: v}}
            """)
        let runtimes = try DejaConfiguration.load(path: path, environment: [:]).taskRuntimes()
        #expect(runtimes.map(\.policy.maxTextBytes) == [4096, 1 << 20])
        let zero = try write("tasks: [{name: ocr, upstream: 'http://h/ocr', model: {name: m, version: v}, maxTextBytes: 0}]\n")
        #expect {
            try DejaConfiguration.load(path: zero, environment: [:])
        } throws: { error in
            "\(error)".contains("maxTextBytes")
        }
    }
}
