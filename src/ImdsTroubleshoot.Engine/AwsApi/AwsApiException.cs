using System;
using System.Collections.Generic;

namespace ImdsTroubleshoot.Engine.AwsApi;

/// <summary>
/// An AWS call failed. Thrown by the bridge instead of the SDK's own exceptions, so that callers outside the
/// SDK's load context can catch it. <see cref="ErrorCode"/> is the service's code (e.g.
/// "InvalidInstanceID.NotFound"); <see cref="Kind"/> is what it means.
/// </summary>
public sealed class AwsApiException : Exception
{
    private static readonly Dictionary<string, AwsErrorKind> s_kinds = new(StringComparer.Ordinal)
    {
        ["InvalidInstanceID.Malformed"] = AwsErrorKind.MalformedId,
        ["InvalidInstanceID.NotFound"] = AwsErrorKind.NotFound,
        ["UnauthorizedOperation"] = AwsErrorKind.Unauthorized,
        ["AccessDenied"] = AwsErrorKind.Unauthorized,
        ["AccessDeniedException"] = AwsErrorKind.Unauthorized,
        ["AuthFailure"] = AwsErrorKind.AuthFailure,
        ["InvalidClientTokenId"] = AwsErrorKind.AuthFailure,
        ["SignatureDoesNotMatch"] = AwsErrorKind.AuthFailure,
        ["ExpiredToken"] = AwsErrorKind.AuthFailure,
        ["ExpiredTokenException"] = AwsErrorKind.AuthFailure,
        ["RequestExpired"] = AwsErrorKind.AuthFailure,
        ["UnrecognizedClientException"] = AwsErrorKind.AuthFailure,
        ["OptInRequired"] = AwsErrorKind.AuthFailure,
        ["RequestLimitExceeded"] = AwsErrorKind.Throttled,
        ["Throttling"] = AwsErrorKind.Throttled,
        ["ThrottlingException"] = AwsErrorKind.Throttled,
        ["InvalidParameterValue"] = AwsErrorKind.InvalidParameter,
        ["InvalidParameterCombination"] = AwsErrorKind.InvalidParameter,
        ["InvalidParameter"] = AwsErrorKind.InvalidParameter,
        ["MissingParameter"] = AwsErrorKind.InvalidParameter,
        ["UnknownParameter"] = AwsErrorKind.InvalidParameter,
        ["InvalidFilter"] = AwsErrorKind.InvalidParameter,
        ["InvalidNextToken"] = AwsErrorKind.InvalidParameter,
        ["ValidationException"] = AwsErrorKind.InvalidParameter,
    };

    public AwsApiException()
        : this(AwsErrorKind.Service, "An AWS call failed.")
    {
    }

    public AwsApiException(string message)
        : this(AwsErrorKind.Service, message)
    {
    }

    public AwsApiException(string message, Exception innerException)
        : this(AwsErrorKind.Service, message, innerException: innerException)
    {
    }

    public AwsApiException(AwsErrorKind kind, string message, string? errorCode = null, int? statusCode = null, string? requestId = null, string? operation = null, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
        ErrorCode = errorCode;
        StatusCode = statusCode;
        RequestId = requestId;
        Operation = operation;
    }

    public AwsErrorKind Kind { get; }

    /// <summary>The service's error code, e.g. "RequestLimitExceeded"; null for errors raised before any call.</summary>
    public string? ErrorCode { get; }

    /// <summary>The HTTP status of the answer, when there was one.</summary>
    public int? StatusCode { get; }

    public string? RequestId { get; }

    /// <summary>The API operation, e.g. "DescribeInstances".</summary>
    public string? Operation { get; }

    /// <summary>What a service error code means; unknown codes are <see cref="AwsErrorKind.Service"/>.</summary>
    public static AwsErrorKind KindOf(string? errorCode) =>
        errorCode is not null && s_kinds.TryGetValue(errorCode, out var kind) ? kind : AwsErrorKind.Service;

    /// <summary>An exception for a service error, with the code classified.</summary>
    public static AwsApiException FromService(string? errorCode, string? message, int? statusCode, string? requestId, string operation, Exception? inner = null)
    {
        string text = string.IsNullOrWhiteSpace(message) ? $"{operation} failed with HTTP {statusCode}." : message.Trim();
        string full = errorCode is null ? $"{operation}: {text}" : $"{operation}: {errorCode}: {text}";
        return new AwsApiException(KindOf(errorCode), full, errorCode, statusCode, requestId, operation, inner);
    }
}
