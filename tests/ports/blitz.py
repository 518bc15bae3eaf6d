"""PyTorch's "Deep Learning with PyTorch: A 60 Minute Blitz" (pytorch/tutorials beginner_source/blitz), each
program as upstream writes it (the versions whose data the tests can make: tensor_tutorial.py and
autograd_tutorial.py as first published, before they loaded torchvision models), with the library modules as
parameters.

Changes from upstream: each script body is a function; in cifar10_tutorial.py torchvision's CIFAR10 is a
TensorDataset of images of the same shape (``images``, ``labels``: NumPy arrays), ``num_workers=2`` is the
parameter ``workers``, ``imshow(torchvision.utils.make_grid(images))`` is the parameter ``show`` (given the
batch), ``dataiter.next()`` is ``next(dataiter)`` (Python 3), and the "print every 2000 mini-batches" period is
the parameter ``every``.
"""
from __future__ import print_function


def tensor_tutorial(torch):
    """blitz/tensor_tutorial.py."""
    ###############################################################
    # Construct a 5x3 matrix, uninitialized:

    x = torch.empty(5, 3)
    print(x)

    ###############################################################
    # Construct a randomly initialized matrix:

    x = torch.rand(5, 3)
    print(x)

    ###############################################################
    # Construct a matrix filled zeros and of dtype long:

    x = torch.zeros(5, 3, dtype=torch.long)
    print(x)

    ###############################################################
    # Construct a tensor directly from data:

    x = torch.tensor([5.5, 3])
    print(x)

    ###############################################################
    # or create a tensor based on an existing tensor. These methods
    # will reuse properties of the input tensor, e.g. dtype, unless
    # new values are provided by user

    x = x.new_ones(5, 3, dtype=torch.double)      # new_* methods take in sizes
    print(x)

    x = torch.randn_like(x, dtype=torch.float)    # override dtype!
    print(x)                                      # result has the same size

    ###############################################################
    # Get its size:

    print(x.size())

    # Addition: syntax 1
    y = torch.rand(5, 3)
    print(x + y)

    ###############################################################
    # Addition: syntax 2

    print(torch.add(x, y))

    ###############################################################
    # Addition: providing an output tensor as argument
    result = torch.empty(5, 3)
    torch.add(x, y, out=result)
    print(result)

    ###############################################################
    # Addition: in-place

    # adds x to y
    y.add_(x)
    print(y)

    print(x[:, 1])

    ###############################################################
    # Resizing: If you want to resize/reshape tensor, you can use ``torch.view``:
    x = torch.randn(4, 4)
    y = x.view(16)
    z = x.view(-1, 8)  # the size -1 is inferred from other dimensions
    print(x.size(), y.size(), z.size())

    ###############################################################
    # If you have a one element tensor, use ``.item()`` to get the value as a
    # Python number
    x = torch.randn(1)
    print(x)
    print(x.item())

    a = torch.ones(5)
    print(a)

    ###############################################################
    #

    b = a.numpy()
    print(b)

    ###############################################################
    # See how the numpy array changed in value.

    a.add_(1)
    print(a)
    print(b)

    ###############################################################
    # Converting NumPy Array to Torch Tensor
    # ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
    # See how changing the np array changed the Torch Tensor automatically

    import numpy as np
    a = np.ones(5)
    b = torch.from_numpy(a)
    np.add(a, 1, out=a)
    print(a)
    print(b)

    # let us run this cell only if CUDA is available
    # We will use ``torch.device`` objects to move tensors in and out of GPU
    if torch.cuda.is_available():
        device = torch.device("cuda")          # a CUDA device object
        y = torch.ones_like(x, device=device)  # directly create a tensor on GPU
        x = x.to(device)                       # or just use strings ``.to("cuda")``
        z = x + y
        print(z)
        print(z.to("cpu", torch.double))       # ``.to`` can also change dtype together!


def autograd_tutorial(torch):
    """blitz/autograd_tutorial.py."""
    ###############################################################
    # Create a tensor and set requires_grad=True to track computation with it
    x = torch.ones(2, 2, requires_grad=True)
    print(x)

    ###############################################################
    # Do an operation of tensor:
    y = x + 2
    print(y)

    ###############################################################
    # ``y`` was created as a result of an operation, so it has a ``grad_fn``.
    print(y.grad_fn)

    ###############################################################
    # Do more operations on y
    z = y * y * 3
    out = z.mean()

    print(z, out)

    ################################################################
    # ``.requires_grad_( ... )`` changes an existing Tensor's ``requires_grad``
    # flag in-place. The input flag defaults to ``True`` if not given.
    a = torch.randn(2, 2)
    a = ((a * 3) / (a - 1))
    print(a.requires_grad)
    a.requires_grad_(True)
    print(a.requires_grad)
    b = (a * a).sum()
    print(b.grad_fn)

    out.backward()

    ###############################################################
    # print gradients d(out)/dx
    #

    print(x.grad)

    x = torch.randn(3, requires_grad=True)

    y = x * 2
    while y.data.norm() < 1000:
        y = y * 2

    print(y)

    ###############################################################
    #
    gradients = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
    y.backward(gradients)

    print(x.grad)

    ###############################################################
    # You can also stops autograd from tracking history on Tensors
    # with requires_grad=True by wrapping the code block in
    # ``with torch.no_grad():``
    print(x.requires_grad)
    print((x ** 2).requires_grad)

    with torch.no_grad():
        print((x ** 2).requires_grad)


def neural_networks_tutorial(torch, nn, F, optim):
    """blitz/neural_networks_tutorial.py: LeNet, backward with a random gradient, MSELoss, one SGD step.
    Returns the network for the test to compare."""
    class Net(nn.Module):

        def __init__(self):
            super(Net, self).__init__()
            # 1 input image channel, 6 output channels, 5x5 square convolution
            # kernel
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.conv2 = nn.Conv2d(6, 16, 5)
            # an affine operation: y = Wx + b
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            # Max pooling over a (2, 2) window
            x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
            # If the size is a square you can only specify a single number
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = x.view(-1, self.num_flat_features(x))
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            x = self.fc3(x)
            return x

        def num_flat_features(self, x):
            size = x.size()[1:]  # all dimensions except the batch dimension
            num_features = 1
            for s in size:
                num_features *= s
            return num_features


    net = Net()
    print(net)

    params = list(net.parameters())
    print(len(params))
    print(params[0].size())  # conv1's .weight

    input = torch.randn(1, 1, 32, 32)
    out = net(input)
    print(out)

    ########################################################################
    # Zero the gradient buffers of all parameters and backprops with random
    # gradients:
    net.zero_grad()
    out.backward(torch.randn(1, 10))

    output = net(input)
    target = torch.arange(1, 11)  # a dummy target, for example
    target = target.view(1, -1)  # make it the same shape as output
    criterion = nn.MSELoss()

    loss = criterion(output, target)
    print(loss)

    print(loss.grad_fn)  # MSELoss
    print(loss.grad_fn.next_functions[0][0])  # Linear
    print(loss.grad_fn.next_functions[0][0].next_functions[0][0])  # ReLU

    net.zero_grad()     # zeroes the gradient buffers of all parameters

    print('conv1.bias.grad before backward')
    print(net.conv1.bias.grad)

    loss.backward()

    print('conv1.bias.grad after backward')
    print(net.conv1.bias.grad)

    # create your optimizer
    optimizer = optim.SGD(net.parameters(), lr=0.01)

    # in your training loop:
    optimizer.zero_grad()   # zero the gradient buffers
    output = net(input)
    loss = criterion(output, target)
    loss.backward()
    optimizer.step()    # Does the update
    return net


def cifar10_tutorial(torch, nn, F, optim, show, images, labels, test_images, test_labels, workers=2, every=2000):
    """blitz/cifar10_tutorial.py: the CIFAR10 classifier, trained two epochs with SGD+momentum, tested.
    Returns the network for the test to compare."""
    trainset = torch.utils.data.TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))
    trainloader = torch.utils.data.DataLoader(trainset, batch_size=4,
                                              shuffle=True, num_workers=workers)

    testset = torch.utils.data.TensorDataset(torch.from_numpy(test_images), torch.from_numpy(test_labels))
    testloader = torch.utils.data.DataLoader(testset, batch_size=4,
                                             shuffle=False, num_workers=workers)

    classes = ('plane', 'car', 'bird', 'cat',
               'deer', 'dog', 'frog', 'horse', 'ship', 'truck')

    # get some random training images
    dataiter = iter(trainloader)
    images, labels = next(dataiter)

    # show images
    show(images)
    # print labels
    print(' '.join('%5s' % classes[labels[j]] for j in range(4)))


    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = x.view(-1, 16 * 5 * 5)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            x = self.fc3(x)
            return x


    net = Net()

    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)

    for epoch in range(2):  # loop over the dataset multiple times

        running_loss = 0.0
        for i, data in enumerate(trainloader, 0):
            # get the inputs; data is a list of [inputs, labels]
            inputs, labels = data

            # zero the parameter gradients
            optimizer.zero_grad()

            # forward + backward + optimize
            outputs = net(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()

            # print statistics
            running_loss += loss.item()
            if i % every == every - 1:    # print every 2000 mini-batches
                print('[%d, %5d] loss: %.3f' %
                      (epoch + 1, i + 1, running_loss / every))
                running_loss = 0.0

    print('Finished Training')

    dataiter = iter(testloader)
    images, labels = next(dataiter)

    # print images
    show(images)
    print('GroundTruth: ', ' '.join('%5s' % classes[labels[j]] for j in range(4)))

    outputs = net(images)

    _, predicted = torch.max(outputs, 1)

    print('Predicted: ', ' '.join('%5s' % classes[predicted[j]]
                                  for j in range(4)))

    correct = 0
    total = 0
    with torch.no_grad():
        for data in testloader:
            images, labels = data
            outputs = net(images)
            _, predicted = torch.max(outputs.data, 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()

    print('Accuracy of the network on the 10000 test images: %d %%' % (
        100 * correct / total))

    class_correct = list(0. for i in range(10))
    class_total = list(0. for i in range(10))
    with torch.no_grad():
        for data in testloader:
            images, labels = data
            outputs = net(images)
            _, predicted = torch.max(outputs, 1)
            c = (predicted == labels).squeeze()
            for i in range(4):
                label = labels[i]
                class_correct[label] += c[i].item()
                class_total[label] += 1


    for i in range(10):
        print('Accuracy of %5s : %2d %%' % (
            classes[i], 100 * class_correct[i] / class_total[i]))

    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")

    # Assuming that we are on a CUDA machine, this should print a CUDA device:

    print(device)
    return net
