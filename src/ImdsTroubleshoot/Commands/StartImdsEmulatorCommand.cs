using System;
using System.Collections.Generic;
using System.IO;
using System.Management.Automation;
using System.Net;
using System.Net.Sockets;
using ImdsTroubleshoot.Engine.Emulator;

namespace ImdsTroubleshoot.Commands;

/// <summary>Starts an instance metadata service emulator in this process.</summary>
[Cmdlet(VerbsLifecycle.Start, "ImdsEmulator")]
[OutputType(typeof(ImdsEmulator))]
public sealed class StartImdsEmulatorCommand : EmulatorSettingsCommandBase
{
    [Parameter(Position = 0)]
    public ImdsEmulatorScenario Scenario { get; set; } = ImdsEmulatorScenario.Healthy;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[] Address { get; set; } = { "127.0.0.1" };

    [Parameter]
    [ValidateRange(0, 65535)]
    public int Port { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? NetworkNamespace { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Name { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? ContentPath { get; set; }

    [Parameter]
    public SwitchParameter NoRole { get; set; }

    [Parameter]
    public SwitchParameter Wait { get; set; }

    protected override void EndProcessing()
    {
        var addresses = new List<IPAddress>();
        foreach (string text in Address)
        {
            if (!IPAddress.TryParse(text.Trim('[', ']'), out IPAddress? ip))
            {
                ThrowTerminatingError(new ArgumentException($"'{text}' is not an IP address. Use an address such as 127.0.0.1, 169.254.169.254 or fd00:ec2::254."),
                    ErrorIds.EmulatorInvalidAddress, ErrorCategory.InvalidArgument, text);
            }

            addresses.Add(ip!);
        }

        EmulatorScenario scenario = EmulatorScenario.Get(Scenario);
        InstanceContent content = LoadContent();
        if (NoRole.IsPresent || !scenario.WithRole)
        {
            content = content.WithoutRole();
        }

        EmulatorSettings settings;
        try
        {
            settings = ApplyBoundSettings(scenario.Settings).Validate();
        }
        catch (ArgumentOutOfRangeException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.EmulatorInvalidSetting, ErrorCategory.InvalidArgument, ex.ParamName);
            return;
        }

        var options = new EmulatorOptions
        {
            Addresses = addresses,
            Port = Port,
            NetworkNamespace = NetworkNamespace,
            Name = Name,
            ScenarioName = scenario.Name,
            Settings = settings,
            Content = content,
        };

        ImdsEmulator emulator = StartEmulator(options);
        EmulatorRegistry.Add(emulator);
        WriteVerbose($"Emulator '{emulator.Name}' ({scenario.Name}) listening on {string.Join(", ", emulator.Endpoints)}.");
        WriteObject(emulator);

        if (Wait.IsPresent)
        {
            Host.UI.WriteLine($"Serving {emulator.Endpoint} ({scenario.Name}). Press Ctrl+C to stop.");
            try
            {
                CancellationToken.WaitHandle.WaitOne();
            }
            finally
            {
                emulator.Stop();
                EmulatorRegistry.Remove(emulator);
            }
        }
    }

    private InstanceContent LoadContent()
    {
        if (ContentPath is null)
        {
            return InstanceContent.CreateDefault();
        }

        string path = GetUnresolvedProviderPathFromPSPath(ContentPath);
        try
        {
            return InstanceContent.LoadFile(path);
        }
        catch (FileNotFoundException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.EmulatorContentNotFound, ErrorCategory.ObjectNotFound, path);
        }
        catch (InvalidDataException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.EmulatorContentInvalid, ErrorCategory.InvalidData, path,
                "Give a JSON object that maps paths such as \"meta-data/instance-id\" to values; see Get-Help Start-ImdsEmulator -Parameter ContentPath.");
        }
        catch (IOException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.EmulatorContentInvalid, ErrorCategory.ReadError, path);
        }
        catch (UnauthorizedAccessException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.EmulatorContentInvalid, ErrorCategory.PermissionDenied, path);
        }

        throw new InvalidOperationException("unreachable");
    }

    private ImdsEmulator StartEmulator(EmulatorOptions options)
    {
        try
        {
            return ImdsEmulator.Start(options);
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            ThrowTerminatingError(new InvalidOperationException($"Port {options.Port} is already in use on {string.Join(", ", options.Addresses)}: {ex.Message}", ex),
                ErrorIds.EmulatorAddressInUse, ErrorCategory.ResourceUnavailable, options.Port, "Choose another -Port, or 0 for a free one.");
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressNotAvailable)
        {
            ThrowTerminatingError(new InvalidOperationException($"No interface has the address {string.Join(", ", options.Addresses)}: {ex.Message}", ex),
                ErrorIds.EmulatorInvalidAddress, ErrorCategory.InvalidArgument, options.Addresses,
                "Add the address first, e.g. 'ip addr add 169.254.169.254/32 dev lo', or listen in a lab namespace with -NetworkNamespace.");
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AccessDenied)
        {
            ThrowTerminatingError(new UnauthorizedAccessException($"Listening on port {options.Port} needs root (ports below 1024): {ex.Message}", ex),
                ErrorIds.EmulatorStartFailed, ErrorCategory.PermissionDenied, options.Port);
        }
        catch (SocketException ex)
        {
            ThrowTerminatingError(new InvalidOperationException($"The emulator could not listen: {ex.Message}", ex),
                ErrorIds.EmulatorStartFailed, ErrorCategory.ResourceUnavailable, options.Addresses);
        }
        catch (UnauthorizedAccessException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.NetworkNamespaceAccessDenied, ErrorCategory.PermissionDenied, options.NetworkNamespace);
        }
        catch (InvalidOperationException ex) when (options.NetworkNamespace is not null && !Engine.Net.NetworkNamespace.Exists(options.NetworkNamespace))
        {
            ThrowTerminatingError(ex, ErrorIds.NetworkNamespaceNotFound, ErrorCategory.ObjectNotFound, options.NetworkNamespace,
                $"Create it first: ip netns add {options.NetworkNamespace}");
        }
        catch (ArgumentException ex)
        {
            ThrowTerminatingError(ex, ErrorIds.EmulatorStartFailed, ErrorCategory.InvalidArgument, options);
        }

        throw new InvalidOperationException("unreachable");
    }
}
