"""The symbols of TeX math and what MathML writes for them (``symgrad.notes.mathml``).

Letters, operators, big operators and functions, accents, spaces, fonts and text commands,
delimiters and environments: the tables the converter looks a command up in.  Command names
are written as words of a string (they are TeX's, not the spec language's functions).
"""


def _table(names, chars):
    """{command: character} from a string of names and a string of as many characters."""
    names = names.split()
    assert len(names) == len(chars)
    return dict(zip(names, chars))


GREEK = _table('alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa varkappa '
    'lambda mu nu xi pi varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega '
    'digamma ell hbar hslash imath jmath aleph partial nabla infty emptyset varnothing',
               'αβγδϵεζηθϑικϰλμνξπϖρϱσςτυϕφχψωϝℓℏℏıȷℵ∂∇∞∅∅')
UPRIGHT = _table('Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega',
                 'ΓΔΘΛΞΠΣΥΦΨΩ')
OPERATORS = _table('cdot cdots ldots dots vdots ddots times div pm mp odot otimes oplus ominus circ bullet ast '
    'star setminus wedge vee land lor cap cup sqcup le leq ge geq ne neq ll gg approx sim simeq '
    'cong equiv propto asymp doteq prec succ preceq succeq in notin ni subset subseteq supset '
    'supseteq subsetneq supsetneq mid nmid parallel perp to gets mapsto rightarrow leftarrow '
    'leftrightarrow Rightarrow Leftarrow Leftrightarrow implies iff longrightarrow '
    'longleftarrow longmapsto uparrow downarrow hookrightarrow forall exists nexists neg lnot '
    'top bot angle prime intercal checkmark lt gt langle rangle lvert rvert vert lVert rVert '
    'Vert lceil rceil lfloor rfloor lbrace rbrace backslash colon',
                   '⋅⋯……⋮⋱×÷±∓⊙⊗⊕⊖∘∙∗⋆∖∧∨∧∨∩∪⊔≤≤≥≥≠≠≪≫≈∼≃≅≡∝≍≐≺≻⪯⪰∈∉∋⊂⊆⊃⊇⊊⊋∣∤∥⊥→←↦→←↔⇒⇐⇔⟹⟺⟶⟵⟼↑↓↪∀∃∄¬¬⊤⊥∠′⊺✓<>⟨⟩|||‖‖‖⌈⌉⌊⌋{}∖:')
BIG = _table('sum prod coprod int iint iiint oint bigcap bigcup bigoplus bigotimes bigodot bigvee '
    'bigwedge',
             '∑∏∐∫∬∭∮⋂⋃⨁⨂⨀⋁⋀')
ACCENTS = _table('bar overline hat widehat tilde widetilde vec dot ddot check breve acute grave mathring '
    'overrightarrow overleftarrow overbrace',
                 '¯‾^^~~→˙¨ˇ˘´`˚→←⏞')
UNDER = _table('underline underbrace',
               '_⏟')
LIMITS = set('Pr arg det gcd inf lim liminf limsup max min sup'.split())
FUNCTIONS = set(('arccos arcsin arctan bmod cos cosh cot coth csc deg dim exp hom ker lg ln log '
                 'mod sec sin sinh tan tanh').split())
MOVABLE = set('bigcap bigcup coprod prod sum'.split())
RADICALS = dict(sqrt='√')
SPACES = {',': '0.1667em', ':': '0.2222em', '>': '0.2222em', ';': '0.2778em', ' ': '0.25em',
          'quad': '1em', 'qquad': '2em', 'enspace': '0.5em', 'thinspace': '0.1667em'}
FONTS = dict(mathrm='normal', operatorname='normal', mathit='italic', mathbf='bold',
             boldsymbol='bold', mathsf='sans', mathtt='mono', mathcal='script', mathbb='double',
             mathfrak='fraktur')
TEXTS = dict(text='', textrm='', textit='font-style:italic', textbf='font-weight:bold', mbox='')
STYLE = dict(bold='font-weight:bold', sans='font-family:sans-serif', mono='font-family:monospace',
             italic='font-style:italic')
FENCES = {'(': '(', ')': ')', '[': '[', ']': ']', '\\{': '{', '\\}': '}', '|': '|', '\\|': '‖',
          '/': '/', '.': '', '<': '⟨', '>': '⟩'}
ENVS = set(('Bmatrix Vmatrix align align* aligned array bmatrix cases gathered matrix pmatrix '
            'smallmatrix split vmatrix').split())
ENV_FENCES = dict(pmatrix=('(', ')'), bmatrix=('[', ']'), Bmatrix=('{', '}'), vmatrix=('|', '|'),
                  Vmatrix=('‖', '‖'), cases=('{', ''))
SPECIAL_LETTERS = {('double', 'R'): 'ℝ', ('double', 'N'): 'ℕ', ('double', 'Z'): 'ℤ', ('double',
                   'Q'): 'ℚ', ('double', 'C'): 'ℂ', ('script', 'B'): 'ℬ', ('script', 'E'): 'ℰ',
                   ('script', 'F'): 'ℱ', ('script', 'H'): 'ℋ', ('script', 'I'): 'ℐ', ('script',
                   'L'): 'ℒ', ('script', 'M'): 'ℳ', ('script', 'R'): 'ℛ', ('fraktur', 'C'): 'ℭ',
                   ('fraktur', 'H'): 'ℌ', ('fraktur', 'I'): 'ℑ', ('fraktur', 'R'): 'ℜ', ('fraktur',
                   'Z'): 'ℨ'}
