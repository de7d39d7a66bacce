using System;
using System.Net.Http;
using System.Net.Sockets;
using System.Threading;
using Amazon.Runtime;
using ImdsTroubleshoot.Engine.AwsApi;

namespace ImdsTroubleshoot.Aws;

/// <summary>Turns the SDK's exceptions into <see cref="AwsApiException"/>, which the module can catch outside this load context.</summary>
internal static class SdkErrors
{
    public static Exception Translate(Exception ex, string operation, CancellationToken cancellationToken)
    {
        switch (ex)
        {
            case AwsApiException:
                return ex;
            case OperationCanceledException when cancellationToken.IsCancellationRequested:
                return ex;
            case OperationCanceledException:
                return new AwsApiException(AwsErrorKind.Network, $"{operation}: no answer in time ({ex.Message}).", operation: operation, innerException: ex);
            case AmazonServiceException service when service.ErrorCode is not null || (int)service.StatusCode != 0:
                return AwsApiException.FromService(service.ErrorCode, service.Message, (int)service.StatusCode == 0 ? null : (int)service.StatusCode, service.RequestId, operation, service);
            case AmazonClientException client when client.InnerException is AmazonServiceException inner:
                // Adaptive retry mode (if the environment forces it) wraps the service error it could not retry.
                return Translate(inner, operation, cancellationToken);
            case AmazonClientException client when IsCredentialFailure(client):
                return AwsConnection.NoCredentials(client);
            case AmazonClientException or AmazonServiceException when FindNetwork(ex) is { } network:
                return new AwsApiException(AwsErrorKind.Network, $"{operation}: the endpoint could not be reached: {network.Message}", operation: operation, innerException: ex);
            case HttpRequestException or SocketException or System.IO.IOException or TimeoutException:
                return new AwsApiException(AwsErrorKind.Network, $"{operation}: the endpoint could not be reached: {ex.Message}", operation: operation, innerException: ex);
            case AmazonClientException or AmazonServiceException:
                return new AwsApiException(AwsErrorKind.Service, $"{operation}: {ex.Message}", operation: operation, innerException: ex);
            default:
                return ex;
        }
    }

    private static bool IsCredentialFailure(AmazonClientException ex) =>
        ex.Message.Contains("credentials", StringComparison.OrdinalIgnoreCase) && !ex.Message.Contains("capacity", StringComparison.OrdinalIgnoreCase);

    private static Exception? FindNetwork(Exception ex)
    {
        for (Exception? e = ex.InnerException; e is not null; e = e.InnerException)
        {
            if (e is HttpRequestException or SocketException or TimeoutException or System.IO.IOException)
            {
                return e;
            }
        }

        return null;
    }
}
