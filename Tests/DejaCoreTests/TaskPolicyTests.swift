import Testing

@testable import DejaCore

@Suite struct TaskPolicyTests {
    @Test func configHashIgnoresDeclarationOrderAndNumberSpelling() {
        let a = TaskPolicy(
            task: "ocr", modelName: "m", modelVersion: "1", volatileFields: ["a", "b", "c", "logId"],
            defaults: ["x": 1, "y": .number(JSONNumber("2.50")!)], binaryFields: ["file", "image"]
        )
        let b = TaskPolicy(
            task: "other", modelName: "n", modelVersion: "2", scope: .tenant, volatileFields: ["c", "b", "a", "logId"],
            defaults: ["y": .number(JSONNumber("25e-1")!), "x": .number(JSONNumber("1.0")!)], binaryFields: ["image", "file"],
            requiredFields: ["file"]
        )
        #expect(a.configHash == b.configHash)
        #expect(a.configHash.utf8.count == 64)
    }

    @Test func configHashCoversEverythingThatShapesTheCanonicalForm() {
        func hash(
            volatile: Set<String> = ["v"], defaults: [String: JSONValue] = ["d": 1], binary: Set<String> = ["file"],
            normalization: TextNormalization = .nfc
        ) -> String {
            TaskPolicy(
                task: "ocr", modelName: "m", modelVersion: "1", volatileFields: volatile, defaults: defaults,
                binaryFields: binary, textNormalization: normalization
            ).configHash
        }
        let hashes = [
            hash(), hash(volatile: ["w"]), hash(volatile: ["v", "w"]), hash(defaults: ["d": 2]), hash(defaults: ["e": 1]),
            hash(defaults: ["d": "1"]), hash(defaults: [:]), hash(binary: ["image"]), hash(binary: []),
            hash(normalization: .nfkc), hash(normalization: .none),
            hash(volatile: ["v", "d"], defaults: [:]), hash(volatile: [], defaults: [:], binary: ["v", "d"]),
        ]
        #expect(Set(hashes).count == hashes.count)
    }

    @Test func theProtocolNameIsPartOfTheConfigurationHash() {
        let a = TaskPolicy(task: "t", protocolName: "paddlex-ocr", modelName: "m", modelVersion: "1")
        let b = TaskPolicy(task: "t", protocolName: "paddlex-sentiment", modelName: "m", modelVersion: "1")
        #expect(a.protocolName == "paddlex-ocr")
        #expect(a.configHash != b.configHash)
        #expect(TaskPolicy.paddleXOCR(modelName: "m", modelVersion: "1", volatileFields: ["requestId"]).volatileFields == ["requestId", "logId"])
    }

    @Test func paddleXPresetMakesFileABinaryRequiredField() {
        let policy = TaskPolicy.paddleXOCR(modelName: "PP-OCRv4", modelVersion: "4.0.0")
        #expect(policy.task == "ocr")
        #expect(policy.binaryFields == ["file"])
        #expect(policy.requiredFields == ["file"])
        #expect(policy.scope == .shared)
        #expect(policy.textNormalization == .nfc)
    }

    @Test func scopeKeyFields() {
        #expect(CacheScope.shared.keyField(tenant: "t") == "shared")
        #expect(CacheScope.shared.keyField(tenant: nil) == "shared")
        #expect(CacheScope.tenant.keyField(tenant: "t") == "tenant:t")
        #expect(CacheScope.tenant.keyField(tenant: nil) == nil)
    }

    @Test func normalizationForms() {
        #expect(TextNormalization.nfc.apply(to: "e\u{301}").unicodeScalars.count == 1)
        #expect(TextNormalization.none.apply(to: "e\u{301}").unicodeScalars.count == 2)
        #expect(TextNormalization.nfc.apply(to: "\u{FF21}") == "\u{FF21}")
        #expect(TextNormalization.nfkc.apply(to: "\u{FF21}\u{FB01}") == "Afi")
        #expect(TextNormalization.nfc.apply(to: "plain ascii") == "plain ascii")
    }
}
