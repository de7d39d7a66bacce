using System;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.Client;

namespace ImdsTroubleshoot;

/// <summary>Turns metadata-read failures into error records with stable IDs and the right categories.</summary>
internal static class ImdsErrors
{
    public static ErrorRecord From(ImdsException ex, object? target)
    {
        (string id, ErrorCategory category, string? action) = ex.Failure switch
        {
            ImdsFailure.DisabledByEnvironment => (ErrorIds.ImdsDisabledByEnvironment, ErrorCategory.NotEnabled, "Unset AWS_EC2_METADATA_DISABLED, or pass -Endpoint explicitly."),
            ImdsFailure.ConnectionRefused => (ErrorIds.ImdsConnectionRefused, ErrorCategory.ConnectionError, "Run Test-ImdsEndpoint and Get-ImdsFirewallRule to find the REJECT rule."),
            ImdsFailure.ConnectTimeout => (ErrorIds.ImdsConnectTimeout, ErrorCategory.OperationTimeout, "Run Test-ImdsEndpoint: a DROP rule, no route, or not an EC2 instance."),
            ImdsFailure.Unreachable => (ErrorIds.ImdsUnreachable, ErrorCategory.ConnectionError, "Check the route to 169.254.169.254 and the local firewall (Test-ImdsEndpoint)."),
            ImdsFailure.AccessDenied => (ErrorIds.ImdsAccessDenied, ErrorCategory.PermissionDenied, "A local firewall rule refuses this traffic: Get-ImdsFirewallRule."),
            ImdsFailure.Timeout => (ErrorIds.ImdsTimeout, ErrorCategory.OperationTimeout, "Run Test-ImdsEndpoint: a hop limit too low for containers, or throttling."),
            ImdsFailure.TokenUnavailable => (ErrorIds.ImdsTokenUnavailable, ErrorCategory.ResourceUnavailable, "Run Test-ImdsEndpoint; pass -AllowV1 to fall back to IMDSv1 where that is acceptable."),
            ImdsFailure.BadTokenRequest => (ErrorIds.ImdsBadRequest, ErrorCategory.InvalidArgument, null),
            ImdsFailure.Unauthorized => (ErrorIds.ImdsUnauthorized, ErrorCategory.AuthenticationError, "Use IMDSv2 (the default); a 401 without a token means HttpTokens=required."),
            ImdsFailure.Forbidden => (ErrorIds.ImdsForbidden, ErrorCategory.PermissionDenied, "Run Test-ImdsEndpoint: IMDS turned off (Set-ImdsMetadataOption -HttpEndpoint Enabled) or a proxy in the path."),
            ImdsFailure.NotFound => (ErrorIds.ImdsPathNotFound, ErrorCategory.ObjectNotFound, "List the parent folder (a path ending in '/') to see what exists."),
            ImdsFailure.MethodNotAllowed => (ErrorIds.ImdsMethodNotAllowed, ErrorCategory.InvalidOperation, null),
            ImdsFailure.Throttled => (ErrorIds.ImdsThrottled, ErrorCategory.LimitsExceeded, "Slow down (-MaxRequestsPerSecond), cache results; Get-EnaLinkLocalStat shows link-local drops."),
            ImdsFailure.InvalidResponse => (ErrorIds.ImdsInvalidResponse, ErrorCategory.InvalidData, "Check what answers at the endpoint (AWS_EC2_METADATA_SERVICE_ENDPOINT, DNAT rules)."),
            _ => (ErrorIds.ImdsHttpError, ErrorCategory.ProtocolError, null),
        };
        var record = new ErrorRecord(ex, id, category, target);
        if (action is not null)
        {
            record.ErrorDetails = new ErrorDetails(ex.Message) { RecommendedAction = action };
        }

        return record;
    }
}
