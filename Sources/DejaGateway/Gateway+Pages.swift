import DejaCore
import NIOCore

/// The page memo: a document whose every page was answered before — in other documents — is answered
/// from those pages' stored answers, without calling the model.
///
/// Each page of a document the task's protocol answers page by page (``TaskProtocol/pageForms(of:forwardBody:limits:)``)
/// has a key of its own: the document request's key with its file replaced by what that page renders
/// as. After a miss on such a document, every page's part of the answer is stored under its page key;
/// before the next document miss calls the model, its page keys are looked up, and when every one holds
/// a fresh answer the protocol puts them together (``TaskProtocol/assemble(pages:)``) into the answer
/// the model gives that document. That answer is served and billed as a hit, and stored under the
/// document's own key, so a repeat of the document is an ordinary hit.
extension Gateway {
    /// A document's pages, each with the key its answer is kept under.
    struct DocumentPages: Sendable {
        var keys: [(key: CacheKey, sealing: SealingDigest)]
        var count: Int { keys.count }
    }

    /// The page keys of `exchange`'s document, or `nil` when its protocol does not answer it page by
    /// page (or its reader is not sure what the pages draw).
    func documentPages(_ exchange: Exchange, forward: [UInt8]) async -> DocumentPages? {
        let task = exchange.task, policy = task.policy
        let wire = task.taskProtocol
        guard task.pageMemo else { return nil }
        guard let scope = policy.scope.keyField(tenant: exchange.caller.tenant) else { return nil }
        // Reading a PDF is work in its size: off the threads that answer hits, as the canonical form is.
        let limits = resolver.canonicalizer.imageLimits
        guard let forms = await resolver.offServingThreads(bytes: forward.count, { wire.pageForms(forwardBody: forward, limits: limits) })
        else { return nil }
        return DocumentPages(keys: forms.map { form in
            let bytes = form.canonicalBytes()
            return (
                key: CacheKey(scope: scope, task: policy.task, modelName: policy.modelName, modelVersion: policy.modelVersion,
                              configHash: policy.configHash, canonicalForm: bytes),
                sealing: SealingDigest(scope: scope, task: policy.task, modelName: policy.modelName,
                                       modelVersion: policy.modelVersion, configHash: policy.configHash, canonicalForm: bytes)
            )
        })
    }

    /// The document's answer put together from its pages' stored answers, as an entry to serve and store
    /// under the document's key; `nil` unless every page has a fresh answer this request may be served.
    func answerFromPages(_ pages: DocumentPages, exchange: Exchange, forward: [UInt8]) async -> CacheEntry? {
        let task = exchange.task, now = clock.now()
        var found: [CacheEntry] = []
        found.reserveCapacity(pages.count)
        for page in pages.keys {
            guard case .entry(let entry) = await store.find(page.key, sealing: page.sealing),
                  entry.status == 200,
                  case .serve = task.cachedAnswers.decide(entry, cacheControl: exchange.cacheControl, now: now, foreign: exchange.isForeign(entry))
            else { return nil }
            found.append(entry)
        }
        guard let answer = task.taskProtocol.assemble(pages: found.map(\.body)) else { return nil }
        // Another tenant's page makes the whole answer another tenant's (served only within the
        // caller's budgets, like any foreign answer).
        let producer = found.first(where: { exchange.isForeign($0) })?.producer ?? exchange.producer
        let tokens = task.meter.tokens(for: task.taskProtocol.measure(answer, forwardBody: forward))
        return CacheEntry(
            body: answer.stored, modelVersion: task.policy.modelVersion, meteredTokens: tokens,
            upstreamSeconds: found.reduce(0) { $0 + $1.upstreamSeconds },
            createdAt: found.map(\.createdAt).max() ?? now, expiresAt: found.map(\.expiresAt).min() ?? now,
            retainUntil: found.map(\.retainUntil).min(), producer: producer,
            task: exchange.taskName, scopeTag: exchange.scopeTag
        )
    }

    /// Stores each page's part of a document's answer under its page key, with the answer's freshness.
    /// Answers with masked sensitive data are not cut (the masking counts belong to the whole answer).
    func storePages(_ pages: DocumentPages, of kept: CacheEntry, exchange: Exchange) async {
        guard kept.redactions == 0, kept.status == 200 else { return }
        let task = exchange.task
        guard let value = try? JSONValue(parsing: kept.body, limits: JSONLimits(maxStringBytes: kept.body.readableBytes)),
              let pieces = task.taskProtocol.pages(of: ModelAnswer(stored: kept.body, value: value)),
              pieces.count == pages.count
        else { return }
        for (page, piece) in zip(pages.keys, pieces) {
            var entry = kept
            entry.body = piece
            entry.upstreamSeconds = kept.upstreamSeconds / Double(pages.count)
            entry.meteredTokens = kept.meteredTokens / Int64(pages.count)  // never served alone: what the document's answer re-measures
            await store.put(page.key, entry, sealing: page.sealing)
        }
        metrics.countPages(task: exchange.taskName, event: .stored, pieces.count)
    }
}
