import AsyncHTTPClient
import Foundation
import Logging
import RetryCore

/// The task list, for reconciliation sweeps (SPEC §7).
extension HTTPHDPClient {
    /// Largest page body read: a page of 100 tasks is a few tens of KiB in the shapes the agent
    /// knows; this leaves room for items with many more members, and bounds what a broken answer
    /// costs.
    public static let maxListBodyBytes = 8 * 1024 * 1024

    /// `GET {base}/tasks?hdp_tasks_page=N&hdp_tasks_per_page=N[&hdp_tasks_search=TEXT]`, with
    /// `X-API-KEY` when one is configured (HDP documents no authentication for the list; a list
    /// of one's own tasks is likely to need the key, and sending it where it is not needed costs
    /// nothing). A 200 whose body reaches ``maxListBodyBytes`` is reported as a server error
    /// rather than read cut short.
    public func listTasks(page: Int, perPage: Int, search: String?) async -> HDPListOutcome {
        let query = Self.listQuery(page: page, perPage: perPage, search: search)
        var request = HTTPClientRequest(url: "\(baseURL)/tasks?\(query)")
        request.method = .GET
        if let apiKey { request.headers.add(name: "X-API-KEY", value: apiKey.value) }
        let outcome: HDPListOutcome
        switch await exchange(request, maxBodyBytes: Self.maxListBodyBytes) {
        case .failure(let failure):
            outcome = .failure(failure)
        case .response(200, _, let body) where body.count >= Self.maxListBodyBytes:
            logger.warning(
                "HDP task list page too large", metadata: ["hdp_page": "\(page)", "bytes": "\(body.count)"])
            outcome = .failure(.serverError(httpStatus: 200))
        case .response(200, _, let body):
            outcome = .page(body)
        case .response(let status, let headers, let body):
            outcome = .failure(mapFailure(status: status, headers: headers, body: body))
        }
        var metadata: Logger.Metadata = ["hdp_endpoint": "list", "hdp_page": "\(page)"]
        switch outcome {
        case .page(let body): metadata["bytes"] = "\(body.count)"
        case .failure(let failure): metadata["hdp_result"] = .string(failure.result.rawValue)
        }
        logger.debug("HDP call", metadata: metadata)
        return outcome
    }

    /// The query string of a page: the numbers as they are, the search percent-encoded so that
    /// no character of it can end the parameter (`&`, `=`, `+`, `#` and the like).
    static func listQuery(page: Int, perPage: Int, search: String?) -> String {
        var query = "hdp_tasks_page=\(page)&hdp_tasks_per_page=\(perPage)"
        if let search {
            let allowed = CharacterSet(
                charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
            let encoded = search.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
            query += "&hdp_tasks_search=\(encoded)"
        }
        return query
    }
}
