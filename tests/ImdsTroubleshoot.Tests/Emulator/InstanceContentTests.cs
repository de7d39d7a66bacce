using System.IO;
using ImdsTroubleshoot.Engine.Emulator;
using Xunit;

namespace ImdsTroubleshoot.Tests.Emulator;

public sealed class InstanceContentTests
{
    [Fact]
    public void User_content_maps_paths_to_values_and_objects_become_json_text()
    {
        var c = InstanceContent.Parse("""
        {
          "meta-data/instance-id": "i-1111",
          "/latest/meta-data/placement/region": "us-east-2",
          "meta-data/ami-launch-index": 3,
          "dynamic/instance-identity/document": { "region": "us-east-2", "instanceId": "i-1111" },
          "user-data": "hello"
        }
        """);
        Assert.Equal("i-1111", c.InstanceId);
        Assert.Equal("us-east-2", c.Region);
        Assert.Equal(5, c.Count);
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("{\"../etc/passwd\": \"x\"}")]
    [InlineData("{\"meta-data//x\": \"x\"}")]
    [InlineData("{\"other/x\": \"x\"}")]
    [InlineData("{\"meta-data/a\": \"x\", \"meta-data/a/b\": \"y\"}")]
    [InlineData("{\"meta-data/a\": {\"$generate\": \"bitcoin\"}}")]
    [InlineData("{\"meta-data/a b\": \"x\"}")]
    public void Bad_content_is_refused_with_a_reason(string json)
    {
        var ex = Assert.Throws<InvalidDataException>(() => InstanceContent.Parse(json, "test.json"));
        Assert.Contains("test.json", ex.Message, System.StringComparison.Ordinal);
    }

    [Fact]
    public void Default_content_is_the_documented_example()
    {
        var c = InstanceContent.CreateDefault();
        Assert.Equal("i-0123456789abcdef0", c.InstanceId);
        Assert.Equal("eu-west-1", c.Region);
        Assert.Equal("eu-west-1a", c.AvailabilityZone);
        Assert.Equal("ImdsTroubleshootDemoRole", c.RoleName);
        Assert.Null(c.WithoutRole().RoleName);
    }
}
