using System;
using System.Reflection;

namespace ImdsTroubleshoot.Engine.AwsApi;

/// <summary>
/// Reads the defaults AWS.Tools keeps in a PowerShell session: <c>$StoredAWSCredentials</c> (set by
/// Set-AWSCredential, an Amazon.PowerShell.Common.AWSPSCredentials whose members are internal) and
/// <c>$StoredAWSRegion</c> (set by Set-DefaultAWSRegion, a plain string). AWS.Tools' SDK is another copy of
/// AWSSDK.Core in another load context, so its types cannot be cast to ours: everything goes through reflection,
/// and the credentials are read afresh, through their own GetCredentials(), every time they are needed.
/// </summary>
public static class AwsToolsSession
{
    public const string CredentialsVariable = "StoredAWSCredentials";
    public const string RegionVariable = "StoredAWSRegion";

    private const string AwsCredentialsTypeName = "Amazon.Runtime.AWSCredentials";

    /// <summary>The Region AWS.Tools stored, or null (AWS.Tools itself uses it only when it is a string).</summary>
    public static string? ReadRegion(object? stored) => stored is string s && !string.IsNullOrWhiteSpace(s) ? s.Trim() : null;

    /// <summary>
    /// A credential source over AWS.Tools' stored credentials: either its AWSPSCredentials wrapper or an
    /// Amazon.Runtime.AWSCredentials object itself. Null when <paramref name="stored"/> is neither.
    /// </summary>
    public static IAwsCredentialSource? ReadCredentials(object? stored)
    {
        if (stored is null)
        {
            return null;
        }

        if (IsAwsCredentials(stored.GetType()))
        {
            return new ReflectedCredentials(stored, "AWS.Tools session credentials (" + stored.GetType().Name + ")");
        }

        object? inner = null;
        string? name = null;
        foreach (var property in stored.GetType().GetProperties(BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public))
        {
            if (property.GetIndexParameters().Length != 0)
            {
                continue;
            }

            if (inner is null && IsAwsCredentials(property.PropertyType))
            {
                inner = property.GetValue(stored);
            }
            else if (name is null && property.Name == "Name" && property.PropertyType == typeof(string))
            {
                name = property.GetValue(stored) as string;
            }
        }

        if (inner is null)
        {
            return null;
        }

        string description = string.IsNullOrEmpty(name)
            ? "AWS.Tools session credentials (Set-AWSCredential)"
            : $"AWS.Tools session credentials '{name}' (Set-AWSCredential)";
        return new ReflectedCredentials(inner, description);
    }

    private static bool IsAwsCredentials(Type? type)
    {
        for (; type is not null; type = type.BaseType)
        {
            if (type.FullName == AwsCredentialsTypeName)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Calls GetCredentials() on the other SDK's AWSCredentials and copies the values out of its ImmutableCredentials.</summary>
    private sealed class ReflectedCredentials : IAwsCredentialSource
    {
        private readonly object _credentials;
        private readonly MethodInfo _getCredentials;

        public ReflectedCredentials(object credentials, string description)
        {
            _credentials = credentials;
            Description = description;
            _getCredentials = credentials.GetType().GetMethod("GetCredentials", BindingFlags.Instance | BindingFlags.Public, Type.EmptyTypes)
                ?? throw new AwsApiException(AwsErrorKind.NoCredentials, "The AWS.Tools session credentials have no GetCredentials() method; this AWS.Tools version is not supported. Pass -ProfileName instead.");
        }

        public string Description { get; }

        public AwsCredentialValues GetCredentials()
        {
            object? immutable;
            try
            {
                immutable = _getCredentials.Invoke(_credentials, null);
            }
            catch (TargetInvocationException ex) when (ex.InnerException is not null)
            {
                throw new AwsApiException(AwsErrorKind.NoCredentials, $"The AWS.Tools session credentials could not be read: {ex.InnerException.Message}", innerException: ex.InnerException);
            }

            if (immutable is null)
            {
                throw new AwsApiException(AwsErrorKind.NoCredentials, "The AWS.Tools session credentials are empty.");
            }

            string? Read(string property) => immutable.GetType().GetProperty(property, BindingFlags.Instance | BindingFlags.Public)?.GetValue(immutable) as string;
            string? accessKey = Read("AccessKey");
            string? secretKey = Read("SecretKey");
            if (string.IsNullOrEmpty(accessKey) || string.IsNullOrEmpty(secretKey))
            {
                throw new AwsApiException(AwsErrorKind.NoCredentials, "The AWS.Tools session credentials have no access key.");
            }

            return new AwsCredentialValues(accessKey, secretKey, Read("Token"));
        }

        public override string ToString() => Description;
    }
}
