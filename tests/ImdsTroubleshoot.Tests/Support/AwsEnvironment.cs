using System;
using System.Collections.Generic;

namespace ImdsTroubleshoot.Tests.Support;

/// <summary>
/// Environment for processes that talk to a fake AWS endpoint: dummy keys, no shared config, no IMDS, and a dead-end
/// loopback proxy so that anything ignoring the endpoint override fails locally instead of reaching AWS.
/// </summary>
public static class AwsEnvironment
{
    public const string AccessKeyId = "AKIDENVIRONMENT0001";
    public const string AwsCliV2 = "/usr/bin/aws";

    public static Dictionary<string, string?> For(Uri? endpoint = null, string? region = "eu-west-1", bool credentials = true)
    {
        var env = new Dictionary<string, string?>
        {
            ["AWS_ACCESS_KEY_ID"] = credentials ? AccessKeyId : null,
            ["AWS_SECRET_ACCESS_KEY"] = credentials ? "environment-secret-not-real" : null,
            ["AWS_SESSION_TOKEN"] = null,
            ["AWS_REGION"] = region,
            ["AWS_DEFAULT_REGION"] = null,
            ["AWS_PROFILE"] = null,
            ["AWS_DEFAULT_PROFILE"] = null,
            ["AWS_CONFIG_FILE"] = "/nonexistent/aws-config",
            ["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/aws-credentials",
            ["AWS_EC2_METADATA_DISABLED"] = "true",
            ["AWS_ENDPOINT_URL"] = null,
            ["AWS_ENDPOINT_URL_EC2"] = endpoint?.ToString(),
            ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = null,
            ["AWS_RETRY_MODE"] = null,
            ["AWS_MAX_ATTEMPTS"] = null,
            ["AWS_WEB_IDENTITY_TOKEN_FILE"] = null,
            ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = null,
            ["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = null,
            ["AWS_PAGER"] = string.Empty,
            ["HTTP_PROXY"] = "http://127.0.0.1:9",
            ["HTTPS_PROXY"] = "http://127.0.0.1:9",
            ["http_proxy"] = "http://127.0.0.1:9",
            ["https_proxy"] = "http://127.0.0.1:9",
            ["NO_PROXY"] = "127.0.0.1,localhost",
            ["no_proxy"] = "127.0.0.1,localhost",
        };
        return env;
    }
}
