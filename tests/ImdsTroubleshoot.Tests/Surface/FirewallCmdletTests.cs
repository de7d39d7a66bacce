using System;
using System.Linq;
using System.Management.Automation;
using ImdsTroubleshoot.Engine.Firewall;
using ImdsTroubleshoot.Tests.Support;
using Xunit;

namespace ImdsTroubleshoot.Tests.Surface;

/// <summary>The firewall cmdlets' surface: parameters, error IDs for bad input, ShouldProcess metadata, views.</summary>
public sealed class FirewallCmdletTests : IDisposable
{
    private readonly PsSession _ps = new();

    public void Dispose() => _ps.Dispose();

    [Fact]
    public void Remove_is_destructive_high_impact_with_Force_and_binds_rules_from_the_pipeline()
    {
        var meta = _ps.Ok("$c = Get-Command Remove-ImdsFirewallRule; [System.Management.Automation.CommandMetadata]::new($c)").Objects<CommandMetadata>().Single();
        Assert.True(meta.SupportsShouldProcess);
        Assert.Equal(ConfirmImpact.High, meta.ConfirmImpact);
        var parameters = _ps.Ok("(Get-Command Remove-ImdsFirewallRule).Parameters.Keys").Output.Select(o => o.ToString()).ToList();
        Assert.Contains("Force", parameters);
        Assert.Contains("UpdatePersistedFile", parameters);
        Assert.Contains("WhatIf", parameters);
        string pipeline = _ps.Ok("(Get-Command Remove-ImdsFirewallRule).Parameters['InputObject'].Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] } | ForEach-Object { $_.ValueFromPipeline }").Output.Single().ToString()!;
        Assert.Equal("True", pipeline);
        Assert.Equal(typeof(FirewallRule[]).FullName, _ps.Ok("(Get-Command Remove-ImdsFirewallRule).Parameters['InputObject'].ParameterType.FullName").Output.Single().ToString());
        Assert.Equal(typeof(FirewallRuleRemoval).FullName, _ps.Ok("(Get-Command Remove-ImdsFirewallRule).OutputType.Name").Output.Single().ToString());
        Assert.Equal(typeof(FirewallRule).FullName, _ps.Ok("(Get-Command Get-ImdsFirewallRule).OutputType.Name").Output.Single().ToString());
    }

    [Fact]
    public void An_unknown_user_is_a_non_terminating_error_and_nothing_is_read()
    {
        var r = _ps.Invoke("Get-ImdsFirewallRule -User no-such-user-imds");
        var error = Assert.Single(r.Errors);
        Assert.Equal("FirewallUserNotFound,ImdsTroubleshoot.Commands.GetImdsFirewallRuleCommand", error.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.ObjectNotFound, error.CategoryInfo.Category);
        Assert.Empty(r.Output);
        Assert.Null(r.Terminating);
    }

    [Fact]
    public void A_missing_namespace_and_bad_arguments_are_clear_errors()
    {
        var missing = _ps.Invoke("Get-ImdsFirewallRule -NetworkNamespace imds-no-such-namespace");
        Assert.Equal("NetworkNamespaceNotFound,ImdsTroubleshoot.Commands.GetImdsFirewallRuleCommand", Assert.Single(missing.AllErrors).FullyQualifiedErrorId);
        var invalid = _ps.Invoke("Get-ImdsFirewallRule -NetworkNamespace ../etc");
        Assert.Equal("NetworkNamespaceNotFound,ImdsTroubleshoot.Commands.GetImdsFirewallRuleCommand", Assert.Single(invalid.AllErrors).FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, Assert.Single(invalid.AllErrors).CategoryInfo.Category);
        var negative = _ps.Invoke("Get-ImdsFirewallRule -Uid -1");
        Assert.StartsWith("ParameterArgumentValidationError", Assert.Single(negative.AllErrors).FullyQualifiedErrorId, StringComparison.Ordinal);
        var family = _ps.Invoke("Get-ImdsFirewallRule -AddressFamily IPv5");
        Assert.StartsWith("CannotConvertArgumentNoMessage", Assert.Single(family.AllErrors).FullyQualifiedErrorId, StringComparison.Ordinal);
        var notARule = _ps.Invoke("'-A OUTPUT -j DROP' | Remove-ImdsFirewallRule -Force");
        Assert.Contains(notARule.AllErrors, e => e.FullyQualifiedErrorId.StartsWith("InputObjectNotBound", StringComparison.Ordinal));
    }

    [Fact]
    public void The_output_types_have_short_table_views_with_widths()
    {
        var doc = System.Xml.Linq.XDocument.Load(System.IO.Path.Combine(Repo.StagedModuleDir, "ImdsTroubleshoot.Format.ps1xml"));
        foreach (Type type in new[] { typeof(FirewallRule), typeof(FirewallRuleRemoval) })
        {
            var view = doc.Descendants("View").Single(v => v.Element("ViewSelectedBy")!.Element("TypeName")!.Value == type.FullName);
            var headers = view.Descendants("TableColumnHeader").ToList();
            Assert.InRange(headers.Count, 4, 8);
            Assert.True(headers.Take(headers.Count - 1).All(h => h.Element("Width") is not null), type.Name);
            Assert.Equal(headers.Count, view.Descendants("TableColumnItem").Count());
        }
    }
}
