import ArgumentParser
import AsyncHTTPClient
import DejaServer
import Foundation
import NIOCore
import NIOHTTP1

/// Options of the verbs that talk to a running gateway's admin endpoints.
struct AdminOptions: ParsableArguments {
    @Option(help: "The gateway's base URL (default: http://<server.host>:<server.port> from the configuration).")
    var url: String?
}

/// Calls a running gateway's `/admin/` endpoints with the admin token (DEJA_ADMIN_TOKEN or the configuration's).
struct AdminClient {
    let baseURL: String
    let token: String

    init(configuration: DejaConfiguration, url: String?) throws {
        guard let token = configuration.adminToken, !token.isEmpty else {
            throw ValidationError("the admin token is not set: export DEJA_ADMIN_TOKEN or set adminToken in the configuration")
        }
        self.baseURL = Self.baseURL(configuration: configuration, url: url)
        self.token = token
    }

    /// The running gateway's base URL: `url`, else `server.host`/`server.port` (an any-address host is
    /// reached on 127.0.0.1), without a trailing slash.
    static func baseURL(configuration: DejaConfiguration, url: String?) -> String {
        let host = ["0.0.0.0", "::", ""].contains(configuration.server.host) ? "127.0.0.1" : configuration.server.host
        return (url ?? "http://\(host):\(configuration.server.port)").trimmingSuffix("/")
    }

    /// Sends the request and returns the answer's body; throws the gateway's own error message otherwise.
    func send(_ method: HTTPMethod, _ path: String, json body: Data? = nil) async throws -> Data {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        request.headers.add(name: "authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        } catch {
            throw ValidationError("cannot reach the gateway at \(baseURL) (\(error)); is it running? --url names another")
        }
        let data = Data(buffer: try await response.body.collect(upTo: 64 << 20))
        guard response.status == .ok else {
            let message = (try? JSONDecoder().decode(ErrorEnvelope.self, from: data))?.error.message ?? String(decoding: data, as: UTF8.self)
            throw ValidationError("the gateway answered \(response.status.code): \(message)")
        }
        return data
    }

    private struct ErrorEnvelope: Decodable {
        struct Detail: Decodable { var message: String }
        var error: Detail
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
