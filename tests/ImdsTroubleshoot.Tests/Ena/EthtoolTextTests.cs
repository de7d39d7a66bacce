using System;
using System.Linq;
using ImdsTroubleshoot.Engine.Ena;
using Xunit;

namespace ImdsTroubleshoot.Tests.Ena;

/// <summary>The <c>ethtool -S</c> / <c>ethtool -i</c> text parser that feeds captures into the live interpretation path.</summary>
public sealed class EthtoolTextTests
{
    [Fact]
    public void Parses_a_modern_ENA_capture_in_order_with_64_bit_values_and_a_truncated_name()
    {
        var stats = EthtoolText.ParseStatistics(EnaFixtures.Text(EnaFixtures.Modern), out int skipped);
        Assert.Equal(2, skipped); // the two '…' lines where the public copy was cut
        Assert.Equal("total_resets", stats[0].Name);
        Assert.Equal(0UL, stats[0].Value);
        Assert.Equal("queue_3_rx_xdp_tx", stats[^1].Name);
        Assert.Equal(37 + 40, stats.Count);
        Assert.Equal(28_899_788_781UL, stats.Single(s => s.Name == "queue_3_rx_bytes").Value);
        // ETH_GSTRING_LEN is 32 with the NUL: ENA's "xdp_short_linear_part" comes out cut at 31 characters.
        var truncated = stats.Single(s => s.Name.StartsWith("queue_3_tx_xdp_short", StringComparison.Ordinal));
        Assert.Equal("queue_3_tx_xdp_short_linear_par", truncated.Name);
        Assert.Equal(31, truncated.Name.Length);
        int linkLocal = stats.ToList().FindIndex(s => s.Name == "linklocal_allowance_exceeded");
        Assert.Equal("conntrack_allowance_available", stats[linkLocal + 1].Name);
    }

    [Fact]
    public void Skips_the_prompt_and_comments_before_the_header()
    {
        var stats = EthtoolText.ParseStatistics(EnaFixtures.Text(EnaFixtures.XenVif), out int skipped);
        var only = Assert.Single(stats);
        Assert.Equal("rx_gso_checksum_fixup", only.Name);
        Assert.Equal(0, skipped);
    }

    [Fact]
    public void Reads_text_without_the_header_the_same_way()
    {
        var stats = EthtoolText.ParseStatistics("bw_in_allowance_exceeded: 12\n   linklocal_allowance_exceeded: 18446744073709551615\n");
        Assert.Equal(2, stats.Count);
        Assert.Equal(ulong.MaxValue, stats[1].Value);
    }

    [Fact]
    public void Round_trips_to_the_exact_ethtool_S_format()
    {
        string text = EnaFixtures.Text(EnaFixtures.Synthesized2210);
        var snapshot = EthtoolText.ParseSnapshot("eth0", text, null, EnaFixtures.T0);
        Assert.Equal(73, snapshot.Statistics.Count);
        string body = text.Substring(text.IndexOf("NIC statistics:", StringComparison.Ordinal));
        Assert.Equal(body, snapshot.ToEthtoolText());
        Assert.Equal(EthtoolSource.Text, snapshot.Source);
    }

    [Theory]
    [InlineData("")]
    [InlineData("driver: ena\nversion: 2.13.0g\n")]
    [InlineData("NIC statistics:\n")]
    [InlineData("Cannot get stats strings information: No such device\n")]
    public void Text_that_is_not_ethtool_S_output_is_a_FormatException(string text)
    {
        Assert.Throws<FormatException>(() => EthtoolText.ParseStatistics(text));
    }

    [Fact]
    public void A_value_beyond_64_bits_is_a_FormatException_not_a_wrong_number()
    {
        var ex = Assert.Throws<FormatException>(() => EthtoolText.ParseStatistics("NIC statistics:\n     x: 18446744073709551616\n"));
        Assert.Contains("64 bits", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parses_ethtool_i_of_an_old_ENA_and_of_virtio_net()
    {
        var old = EthtoolDriverInfo.Parse(EnaFixtures.Text(EnaFixtures.OldInfo));
        Assert.Equal("ena", old.Driver);
        Assert.Equal("1.2.0k", old.Version);
        Assert.Equal("0000:00:05.0", old.BusInfo);
        Assert.Equal(string.Empty, old.FirmwareVersion);
        Assert.True(old.SupportsStatistics);

        var virtio = EthtoolDriverInfo.Parse(EnaFixtures.Text(EnaFixtures.VirtioInfo));
        Assert.Equal("virtio_net", virtio.Driver);
        Assert.Equal("1.0.0", virtio.Version);
        Assert.Equal("0000:00:03.0", virtio.BusInfo);
        Assert.Throws<FormatException>(() => EthtoolDriverInfo.Parse("version: 1.0\n"));
    }
}
