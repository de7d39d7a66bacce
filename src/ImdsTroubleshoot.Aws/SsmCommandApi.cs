using System;
using System.Collections.Generic;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Amazon.SimpleSystemsManagement;
using Amazon.SimpleSystemsManagement.Model;
using ImdsTroubleshoot.Engine.AwsApi;
using ImdsTroubleshoot.Engine.Remote;

namespace ImdsTroubleshoot.Aws;

/// <summary>SendCommand, ListCommandInvocations, GetCommandInvocation and CancelCommand through AWSSDK.SimpleSystemsManagement, mapped to engine types.</summary>
internal sealed class SsmCommandApi : ISsmCommandApi
{
    private readonly AmazonSimpleSystemsManagementClient _client;

    public SsmCommandApi(AmazonSimpleSystemsManagementClient client, AwsConnectionInfo connection)
    {
        _client = client;
        Connection = connection;
    }

    public AwsConnectionInfo Connection { get; }

    public async Task<string> SendCommandAsync(SsmSendCommandRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var parameters = new Dictionary<string, List<string>>(StringComparer.Ordinal)
        {
            ["commands"] = request.Commands.ToList(),
        };
        if (request.ExecutionTimeoutSeconds is { } execution)
        {
            parameters["executionTimeout"] = new List<string> { execution.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        }

        var sdkRequest = new SendCommandRequest
        {
            DocumentName = request.DocumentName,
            InstanceIds = request.InstanceIds.ToList(),
            Parameters = parameters,
            TimeoutSeconds = request.TimeoutSeconds,
            MaxConcurrency = request.MaxConcurrency,
            MaxErrors = request.MaxErrors,
            Comment = request.Comment,
        };
        SendCommandResponse response;
        try
        {
            response = await _client.SendCommandAsync(sdkRequest, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw SdkErrors.Translate(ex, "SendCommand", cancellationToken);
        }

        return response.Command?.CommandId is { Length: > 0 } id
            ? id
            : throw new AwsApiException(AwsErrorKind.Service, "SendCommand: the answer has no command ID.", operation: "SendCommand");
    }

    public async Task<SsmInvocationPage> ListCommandInvocationsAsync(string commandId, string? nextToken, CancellationToken cancellationToken)
    {
        var request = new ListCommandInvocationsRequest
        {
            CommandId = commandId,
            Details = false,
            MaxResults = 50,
            NextToken = nextToken,
        };
        ListCommandInvocationsResponse response;
        try
        {
            response = await _client.ListCommandInvocationsAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw SdkErrors.Translate(ex, "ListCommandInvocations", cancellationToken);
        }

        // SDK v4 leaves empty collections null.
        var invocations = (response.CommandInvocations ?? new List<CommandInvocation>())
            .Where(i => !string.IsNullOrEmpty(i.InstanceId))
            .Select(i => new SsmInvocationStatus { InstanceId = i.InstanceId, Status = i.Status?.Value, StatusDetails = i.StatusDetails })
            .ToList();
        return new SsmInvocationPage(invocations, response.NextToken);
    }

    public async Task<SsmInvocationResult> GetCommandInvocationAsync(string commandId, string instanceId, CancellationToken cancellationToken)
    {
        var request = new GetCommandInvocationRequest { CommandId = commandId, InstanceId = instanceId };
        GetCommandInvocationResponse response;
        try
        {
            response = await _client.GetCommandInvocationAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw SdkErrors.Translate(ex, "GetCommandInvocation", cancellationToken);
        }

        return new SsmInvocationResult
        {
            InstanceId = string.IsNullOrEmpty(response.InstanceId) ? instanceId : response.InstanceId,
            Status = response.Status?.Value,
            StatusDetails = response.StatusDetails,
            ResponseCode = response.ResponseCode,
            StandardOutput = response.StandardOutputContent,
            StandardError = response.StandardErrorContent,
        };
    }

    public async Task CancelCommandAsync(string commandId, IReadOnlyList<string>? instanceIds, CancellationToken cancellationToken)
    {
        var request = new CancelCommandRequest { CommandId = commandId };
        if (instanceIds is { Count: > 0 })
        {
            request.InstanceIds = instanceIds.ToList();
        }

        try
        {
            await _client.CancelCommandAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            throw SdkErrors.Translate(ex, "CancelCommand", cancellationToken);
        }
    }

    public void Dispose() => _client.Dispose();
}
