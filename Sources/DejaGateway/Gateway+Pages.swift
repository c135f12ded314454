import DejaCore
import NIOCore

/// The page memo: a document whose every page was answered before — in other documents, or as images
/// with `pageMemoImages` — is answered from those pages' stored answers, without calling the model.
///
/// Each page of a document the task's protocol answers page by page
/// (``TaskProtocol/pageForms(forwardBody:limits:images:)``) has keys of its own: the request's key with
/// its file replaced by what that page draws or renders as. After a miss on such a document, every
/// page's part of the answer is stored under its page keys; before the next document miss calls the
/// model, its page keys are looked up, and when every one holds a fresh answer the protocol puts them
/// together (``TaskProtocol/assemble(pages:forwardBody:)``) into the answer the model gives that
/// document. That answer is served and billed as a hit, and stored under the document's own key, so a
/// repeat of the document is an ordinary hit.
extension Gateway {
    /// The page keys of a document: one key and sealing digest per page, in page order.
    typealias PageKeys = [(key: CacheKey, sealing: SealingDigest)]

    /// A document's pages, each with the keys its answer is kept under: what the gateway reads from the
    /// file itself, and — for a PDF whose pages were not all found that way — what the model server says
    /// its pages render as.
    struct DocumentPages: Sendable {
        var keys: PageKeys
        var pixels: PageKeys?
        var count: Int { keys.count }
    }

    /// The page keys of `exchange`'s document, or `nil` when its protocol does not answer it page by
    /// page (or its reader is not sure what the pages draw).
    func documentPages(_ exchange: Exchange, forward: [UInt8]) async -> DocumentPages? {
        let task = exchange.task
        guard task.pageMemo else { return nil }
        // Reading a PDF or decoding a PNG is work in its size: off the threads that answer hits, as the
        // canonical form is.
        let limits = resolver.canonicalizer.imageLimits, wire = task.taskProtocol, images = task.pageMemoImages
        guard let forms = await resolver.offServingThreads(bytes: forward.count, { wire.pageForms(forwardBody: forward, limits: limits, images: images) }),
              let keys = pageKeys(forms, exchange: exchange)
        else { return nil }
        return DocumentPages(keys: keys)
    }

    /// The keys of `pages` by what each renders as, asked of a model server (one render-only call, no
    /// model run); `nil` when the protocol has no such call for this document or the server does not
    /// answer it, or it names another number of pages.
    func pixelPages(_ pages: DocumentPages, exchange: Exchange, forward: [UInt8]) async -> PageKeys? {
        let task = exchange.task
        guard task.pageMemoImages, let request = task.taskProtocol.pixelsRequest(forwardBody: forward),
              let reply = await model.ask(task, path: request.path, body: request.body),
              let forms = task.taskProtocol.pixelForms(reply: reply, forwardBody: forward),
              forms.count == pages.count
        else { return nil }
        return pageKeys(forms, exchange: exchange)
    }

    private func pageKeys(_ forms: [JSONValue], exchange: Exchange) -> PageKeys? {
        let policy = exchange.task.policy
        guard let scope = policy.scope.keyField(tenant: exchange.caller.tenant) else { return nil }
        return forms.map { form in
            let bytes = form.canonicalBytes()
            return (
                key: CacheKey(scope: scope, task: policy.task, modelName: policy.modelName, modelVersion: policy.modelVersion,
                              configHash: policy.configHash, canonicalForm: bytes),
                sealing: SealingDigest(scope: scope, task: policy.task, modelName: policy.modelName,
                                       modelVersion: policy.modelVersion, configHash: policy.configHash, canonicalForm: bytes)
            )
        }
    }

    /// The document's answer put together from its pages' stored answers, as an entry to serve and store
    /// under the document's key; `nil` unless every page has a fresh answer this request may be served.
    func answerFromPages(_ keys: PageKeys, exchange: Exchange, forward: [UInt8]) async -> CacheEntry? {
        let task = exchange.task, now = clock.now()
        var found: [CacheEntry] = []
        found.reserveCapacity(keys.count)
        for page in keys {
            guard case .entry(let entry) = await store.find(page.key, sealing: page.sealing),
                  entry.status == 200,
                  case .serve = task.cachedAnswers.decide(entry, cacheControl: exchange.cacheControl, now: now, foreign: exchange.isForeign(entry))
            else { return nil }
            found.append(entry)
        }
        guard let answer = task.taskProtocol.assemble(pages: found.map(\.body), forwardBody: forward) else { return nil }
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

    /// Stores each page's part of a document's answer under its page keys, with the answer's freshness.
    /// Answers with masked sensitive data are not cut (the masking counts belong to the whole answer).
    func storePages(_ pages: DocumentPages, of kept: CacheEntry, exchange: Exchange) async {
        guard kept.redactions == 0, kept.status == 200 else { return }
        let task = exchange.task
        guard let value = try? JSONValue(parsing: kept.body, limits: JSONLimits(maxStringBytes: kept.body.readableBytes)),
              let pieces = task.taskProtocol.pages(of: ModelAnswer(stored: kept.body, value: value)),
              pieces.count == pages.count
        else { return }
        for keys in [pages.keys, pages.pixels ?? []] where keys.count == pieces.count {
            for (page, piece) in zip(keys, pieces) {
                var entry = kept
                entry.body = piece
                entry.upstreamSeconds = kept.upstreamSeconds / Double(pages.count)
                entry.meteredTokens = kept.meteredTokens / Int64(pages.count)  // never served alone: what the document's answer re-measures
                await store.put(page.key, entry, sealing: page.sealing)
            }
        }
        metrics.countPages(task: exchange.taskName, event: .stored, pieces.count)
    }
}
