/// The request directives of a `Cache-Control` header that Deja honours, with their HTTP meaning.
public struct CacheControl: Sendable, Equatable {
    /// Do not answer from cache; go to the model and refresh the entry.
    public var noCache = false
    /// Do not store this answer (and do not answer from cache).
    public var noStore = false
    /// Accept only an entry younger than this many seconds.
    public var maxAge: Int?

    public init(noCache: Bool = false, noStore: Bool = false, maxAge: Int? = nil) {
        self.noCache = noCache
        self.noStore = noStore
        self.maxAge = maxAge
    }

    /// Parses a header value; unknown directives are ignored, as HTTP requires.
    public init(header: String?) {
        guard let header else { return }
        for part in header.split(separator: ",") {
            let directive = part.trimmingCharacters(in: " \t")
            let name = directive.prefix { $0 != "=" }.lowercased()
            switch name {
            case "no-cache": noCache = true
            case "no-store": noStore = true
            case "max-age":
                let value = directive.drop { $0 != "=" }.dropFirst().trimmingCharacters(in: " \t\"")
                if let seconds = Int(value), seconds >= 0 { maxAge = seconds }
            default: continue
            }
        }
    }

    /// Whether this request may be answered from the cache at all.
    public var allowsCachedAnswer: Bool { !noCache && !noStore }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var slice = self[...]
        while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
