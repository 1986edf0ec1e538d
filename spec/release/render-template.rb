# Renders one BOSH job template the way the Director does, for the release tests (no bosh-template gem).
#
#   ruby render-template.rb <job dir> <template source name> <context.json | - for stdin>
#
# context.json: {"properties": {...manifest properties, nested...}, "spec": {...instance spec overrides...}}
# Writes the rendered template to stdout; an error (e.g. a missing required property) to stderr, exit 1.
#
# As on the Director: only properties declared in the job spec are visible, a property that is unset or
# null takes its spec default, `p` raises for a property with neither, `if_p` runs its block only when every
# named property resolves to a non-nil value (false counts as set), and templates are ERB with trim_mode '-'.
require 'erb'
require 'json'
require 'ostruct'
require 'yaml'

class UnknownProperty < StandardError; end

# Else-branches of if_p, as in bosh-template.
class ActiveElseBlock
  def else; end

  def else_if_p(*_names); self; end
end

class InactiveElseBlock
  def initialize(context)
    @context = context
  end

  def else
    yield
  end

  def else_if_p(*names, &block)
    @context.if_p(*names, &block)
  end
end

class TemplateContext
  attr_reader :spec

  def initialize(job_spec, manifest_properties, instance_spec)
    @properties = {}
    (job_spec['properties'] || {}).each do |name, definition|
      value = dig(manifest_properties, name)
      value = (definition || {})['default'] if value.nil?
      store(@properties, name, value) unless value.nil?
    end
    @spec = to_open_struct(default_instance_spec(job_spec).merge(instance_spec))
  end

  def p(*args)
    names = Array(args[0])
    names.each do |name|
      value = dig(@properties, name)
      return value unless value.nil?
    end
    return args[1] if args.length == 2

    raise UnknownProperty, "Can't find property '#{names.join("', '")}'"
  end

  def if_p(*names)
    values = names.map { |name| dig(@properties, name) }
    return InactiveElseBlock.new(self) if values.any?(&:nil?)

    yield(*values)
    ActiveElseBlock.new
  end

  def link(name)
    raise UnknownProperty, "Can't find link '#{name}' (the test harness renders without links)"
  end

  def if_link(_name)
    InactiveElseBlock.new(self)
  end

  def render(template)
    ERB.new(template, trim_mode: '-').result(binding)
  end

  private

  def dig(hash, dotted)
    dotted.split('.').reduce(hash) { |node, key| node.is_a?(Hash) ? node[key] : nil }
  end

  def store(hash, dotted, value)
    *parents, leaf = dotted.split('.')
    parents.reduce(hash) { |node, key| node[key] ||= {} }[leaf] = value
  end

  def default_instance_spec(job_spec)
    {
      'deployment' => 'bosh', 'name' => 'bosh', 'index' => 0, 'id' => 'c7b7a6f2-0a4e-4b8e-9d38-4f1b7b3f0b11',
      'az' => 'z1', 'bootstrap' => true, 'ip' => '10.254.50.4', 'address' => '10.254.50.4',
      'networks' => { 'default' => { 'ip' => '10.254.50.4', 'netmask' => '255.255.255.0', 'gateway' => '10.254.50.1' } },
      'persistent_disk' => 0, 'job' => { 'name' => job_spec['name'] },
      'release' => { 'name' => 'garden-cpi', 'version' => '0+dev.1' },
    }
  end

  def to_open_struct(value)
    case value
    when Hash then OpenStruct.new(value.transform_values { |inner| to_open_struct(inner) })
    when Array then value.map { |inner| to_open_struct(inner) }
    else value
    end
  end
end

job_dir, template_name, context_path = ARGV
abort('usage: render-template.rb <job dir> <template source name> <context.json>') unless context_path

begin
  job_spec = YAML.safe_load(File.read(File.join(job_dir, 'spec')))
  unless (job_spec['templates'] || {}).key?(template_name)
    raise ArgumentError, "template '#{template_name}' is not listed in #{job_dir}/spec"
  end

  context = JSON.parse(context_path == '-' ? $stdin.read : File.read(context_path))
  renderer = TemplateContext.new(job_spec, context['properties'] || {}, context['spec'] || {})
  $stdout.write(renderer.render(File.read(File.join(job_dir, 'templates', template_name))))
rescue StandardError => e
  warn "#{e.class}: #{e.message}"
  exit 1
end
