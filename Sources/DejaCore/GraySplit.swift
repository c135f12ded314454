/// Which model version a request goes to during a gray release, chosen by its content.
///
/// The choice is a pure function of the canonical request without its model version and its scope —
/// task, model name, configuration hash and canonical form, under the domain tag `deja-gray-v1` — mapped
/// to a number in [0, 1) (``unit(of:policy:)``). One document therefore always goes to the same version,
/// for every tenant, on every instance and after every restart, and a byte-identical repeat remembered
/// by the key memo may reuse the choice without computing it again.
public enum GraySplit {
    /// The domain tag of the split's digest: never the same bytes as a key's or an alias's.
    public static let tag = "deja-gray-v1"

    /// Where `request` falls in [0, 1): uniform over distinct canonical requests, independent of the
    /// model version (so that changing the candidate's version does not move documents between versions)
    /// and of the tenant.
    public static func unit(of request: CanonicalRequest, policy: TaskPolicy) -> Double {
        unit(task: policy.task, modelName: policy.modelName, configHash: policy.configHash,
             canonicalForm: request.canonicalBytes)
    }

    /// Where a canonical form falls in [0, 1); see ``unit(of:policy:)``.
    public static func unit(task: String, modelName: String, configHash: String, canonicalForm: [UInt8]) -> Double {
        let digest = KeyEncoding.digest(fields: [
            Array(tag.utf8), Array(task.utf8), Array(modelName.utf8), Array(configHash.utf8), canonicalForm,
        ])
        var word: UInt64 = 0
        for byte in digest.prefix(8) { word = word << 8 | UInt64(byte) }
        // The top 53 bits, exactly representable: a uniform double in [0, 1).
        return Double(word >> 11) * 0x1p-53
    }
}

extension CanonicalRequest {
    /// The same request keyed and sealed for `policy`'s model version (a gray release's candidate):
    /// everything else in the key stays, so the two versions' answers never share a key.
    public func rekeyed(for policy: TaskPolicy) -> CanonicalRequest {
        CanonicalRequest(
            key: CacheKey(scope: scope, task: policy.task, modelName: policy.modelName, modelVersion: policy.modelVersion,
                          configHash: policy.configHash, canonicalForm: canonicalBytes),
            sealing: SealingDigest(scope: scope, task: policy.task, modelName: policy.modelName, modelVersion: policy.modelVersion,
                                   configHash: policy.configHash, canonicalForm: canonicalBytes),
            scope: scope, canonicalForm: canonicalForm, canonicalBytes: canonicalBytes, forwardBody: forwardBody, notes: notes,
            textChanges: textChanges, binaryBytes: binaryBytes
        )
    }
}
